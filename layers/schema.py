"""Layer kinds, their canonical fields, and the Chinese headers that map onto them.

Canonical names are English and stable (they are the GeoPackage column names); every
field also has a Chinese label and, for numbers, the unit it is stored in. Importers map
source headers onto canonical names through :attr:`Field.aliases` (Chinese headers and the
pinyin codes of the national cadastral database standard).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mujun.geo.errors import InputError
from mujun.geo.flags import CHECK_KINDS, FLAG_KINDS
from mujun.geo.review import RECOVERY_MEASURES

__all__ = ["FIELDS_BY_NAME", "KINDS", "RECOVERY_METHODS", "RESULT_FIELDS", "RESULT_TABLES", "REVIEW_FIELDS",
           "TABLE_FIELDS", "Field", "Kind", "column_field", "get_kind", "label"]


@dataclass(frozen=True)
class Field:
    """One canonical field.

    Attributes
    ----------
    name : str
        Canonical English name (a GeoPackage column).
    label : str
        Chinese label shown to users.
    dtype : str
        One of ``str``, ``float``, ``int``, ``date``, ``bool``.
    unit : str or None
        Unit the value is stored in (``万元``, ``亩``, ``m2`` …).
    aliases : tuple of str
        Source headers recognised for this field, besides the label and the name.
    nonnegative : bool
        Whether negative values are refused (land areas).
    share : bool
        A share or rate stored as a fraction (0.724); shown as a percentage (72.4 %) in
        exports and pages. Fields whose unit is ``%`` are stored as percentages already.
    """

    name: str
    label: str
    dtype: str = "str"
    unit: str | None = None
    aliases: tuple[str, ...] = ()
    nonnegative: bool = False
    share: bool = False

    @property
    def header(self) -> str:
        """Chinese header with its unit, as used in exports: ``亩均税收(万元/亩)``."""
        unit = {"m2": "平方米"}.get(self.unit or "", self.unit)
        return f"{self.label}({unit})" if unit else self.label


@dataclass(frozen=True)
class Kind:
    """A kind of layer that can be imported.

    Attributes
    ----------
    name : str
        ``parcels``, ``enterprises`` …
    label : str
        Chinese name.
    geometry : bool
        Whether it is a polygon layer (else an attribute table).
    id_field : str or None
        Field that identifies a feature; duplicates are refused.
    required : tuple of str
        Fields a source must provide (after mapping).
    fields : tuple of Field
    """

    name: str
    label: str
    geometry: bool
    id_field: str | None
    required: tuple[str, ...]
    fields: tuple[Field, ...] = field(repr=False)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]



DISTRICTS = Kind(
    "districts", "行政区", True, "district_id", ("name",),
    (
        Field("district_id", "行政区划代码", aliases=("XZQDM", "区划代码", "行政区代码", "代码", "adcode", "code")),
        Field("name", "行政区名称", aliases=("XZQMC", "名称", "区县", "区县名称", "行政区", "NAME")),
    ),
)

PARKS = Kind(
    "parks", "园区", True, "park_id", ("name",),
    (
        Field("park_id", "园区代码", aliases=("园区编号", "编号", "代码", "ID", "YQDM")),
        Field("name", "园区名称", aliases=("名称", "园区", "YQMC", "NAME")),
        Field("level", "园区级别", aliases=("级别", "等级")),
        Field("park_type", "园区类型", aliases=("类型", "类别")),
    ),
)

PLATFORMS = Kind(
    "platforms", "万亩千亿平台", True, "platform_id", ("name",),
    (
        Field("platform_id", "平台代码", aliases=("平台编号", "编号", "代码", "ID")),
        Field("name", "平台名称", aliases=("名称", "平台", "NAME")),
        Field("lead_industry", "主导产业", aliases=("主导产业名称",)),
        Field("target_output", "目标产值", "float", "亿元", ("主导产业目标产值", "规划产值")),
        Field("target_year", "目标年份", "int", None, ("目标年",)),
        Field("planned_mu", "规划面积", "float", "亩", ("规划用地面积", "规划面积"), nonnegative=True),
        Field("lead_industry_codes", "主导产业代码", aliases=("主导产业行业代码", "主导行业代码")),
    ),
)

PARCELS = Kind(
    "parcels", "地块", True, "parcel_id", ("parcel_id",),
    (
        Field("parcel_id", "宗地编号", aliases=("宗地代码", "地块编号", "地块代码", "宗地号", "ZDDM", "DKBH", "ZDBH")),
        Field("property_unit_id", "不动产单元号", aliases=("BDCDYH", "不动产单元代码")),
        Field("holder_code", "统一社会信用代码", aliases=("权利人证件号", "证件号", "信用代码", "QLRZJH", "ZJH", "TYSHXYDM", "credit_code")),
        Field("holder_name", "权利人", aliases=("土地使用权人", "权利人名称", "使用权人", "QLRMC", "QLR")),
        Field("land_use", "土地用途", aliases=("用地类型", "地类", "地类名称", "用途", "TDYT", "DLMC")),
        Field("land_class_code", "地类编码", aliases=("地类代码", "DLBM")),
        Field("registered_area_m2", "宗地面积", "float", "m2", ("登记面积", "土地面积", "ZDMJ"), nonnegative=True),
        Field("use_term", "使用期限", aliases=("土地使用期限", "TDSYQX")),
        Field("transfer_date", "出让日期", "date", None, ("供地日期", "签订日期", "合同签订日期")),
        Field("agreed_start", "约定开工日期", "date", None, ("合同约定开工日期", "约定动工日期")),
        Field("agreed_finish", "约定竣工日期", "date", None, ("合同约定竣工日期",)),
        Field("actual_start", "实际开工日期", "date", None, ("开工日期", "实际动工日期")),
        Field("actual_finish", "实际竣工日期", "date", None, ("竣工日期",)),
        Field("land_price", "出让价款", "float", "万元", ("成交价款", "土地价款", "出让金"), nonnegative=True),
        Field("investment", "固定资产投资", "float", "万元", ("实际投资", "已完成投资", "投资额"), nonnegative=True),
        Field("contract_investment", "约定投资强度", "float", "万元/亩", ("合同投资强度", "投资强度要求"), nonnegative=True),
        Field("planned_far_min", "容积率下限", "float", None, ("规划容积率下限", "最低容积率"), nonnegative=True),
        Field("planned_far_max", "容积率上限", "float", None, ("规划容积率上限", "最高容积率"), nonnegative=True),
        Field("suspended_since", "停工日期", "date", None, ("停建日期", "停止开发日期")),
        Field("idle_exemption", "闲置免责情形", aliases=("延迟开工原因", "延期开工原因", "闲置原因", "免责情形", "免责原因")),
        Field("production_due", "约定达产日期", "date", None, ("达产日期", "约定投产日期")),
        Field("contract_tax_per_mu", "约定亩均税收", "float", "万元/亩", ("达产亩均税收", "亩均税收要求")),
        Field("contract_value_added_per_mu", "约定亩均增加值", "float", "万元/亩", ("达产亩均增加值", "亩均增加值要求")),
        Field("contract_va_per_energy", "约定单位能耗增加值", "float", "万元/吨标准煤", ("单位能耗增加值要求",)),
        Field("contract_va_per_emission", "约定单位排放增加值", "float", "万元/吨", ("单位排放增加值要求",)),
    ),
)

BUILDINGS = Kind(
    "buildings", "建筑物", True, "building_id", (),
    (
        Field("building_id", "建筑物编号", aliases=("房屋编号", "幢号", "建筑编号", "JZWBH", "FWBH", "ZH")),
        Field("floors", "层数", "float", "层", ("总层数", "地上层数", "ZCS", "CS")),
        Field("height", "高度", "float", "米", ("建筑高度", "JZGD", "GD")),
        Field("use", "用途", aliases=("房屋用途", "建筑用途", "FWYT", "YT")),
        Field("floor_area_m2", "建筑面积", "float", "m2", ("总建筑面积", "JZMJ"), nonnegative=True),
    ),
)

ENTERPRISES = Kind(
    "enterprises", "企业", False, "credit_code", ("credit_code", "year"),
    (
        Field("credit_code", "统一社会信用代码", aliases=("信用代码", "社会信用代码", "纳税人识别号", "USCC", "TYSHXYDM")),
        Field("name", "企业名称", aliases=("名称", "单位名称", "纳税人名称", "企业")),
        Field("industry_code", "行业代码", aliases=("国民经济行业代码", "行业类别代码", "所属行业代码")),
        Field("industry_name", "行业名称", aliases=("所属行业", "行业", "国民经济行业")),
        Field("above_scale", "是否规上", "bool", None, ("规模以上", "是否规模以上", "规上", "规上企业", "企业规模")),
        Field("year", "年度", "int", None, ("年份", "评价年度", "统计年度")),
        Field("tax", "税收", "float", "万元", ("实缴税金", "实缴税收", "税收实际贡献", "入库税金", "实际入库税收", "税收总额")),
        Field("value_added", "工业增加值", "float", "万元", ("增加值",)),
        Field("revenue", "营业收入", "float", "万元", ("主营业务收入", "销售收入")),
        Field("output_value", "工业总产值", "float", "万元", ("总产值", "产值")),
        Field("energy_tce", "综合能耗", "float", "吨标准煤", ("能耗", "综合能源消费量", "综合能耗(等价值)",
                                                           "综合能源消费量(等价值)", "能耗(等价值)",
                                                           "综合能耗(当量值)", "综合能源消费量(当量值)", "能耗(当量值)")),
        Field("emissions", "排放当量", "float", "吨", ("主要污染物排放当量", "排污当量", "污染物排放当量")),
        Field("rd_expense", "研发经费", "float", "万元", ("研发费用", "R&D经费", "研发经费支出")),
        Field("employees", "年平均职工人数", "float", "人", ("职工人数", "从业人员", "从业人员数", "年平均从业人员")),
        Field("electricity", "用电量", "float", "万千瓦时", ("总用电量", "年用电量")),
        # 万吨 as water statistics give it (1 吨 = 1 立方米); gas in 万立方米 as the energy tables do
        Field("water", "用水量", "float", "万吨", ("总用水量", "年用水量", "用水总量", "取水量", "新鲜水用量")),
        Field("gas", "用气量", "float", "万立方米", ("天然气用量", "天然气消费量", "天然气使用量", "用天然气量",
                                                 "年用气量", "天然气")),
        Field("leased_in_mu", "租入面积", "float", "亩", ("租用土地面积", "租赁用地面积", "租入用地"), nonnegative=True),
        Field("leased_out_mu", "出租面积", "float", "亩", ("出租土地面积", "出租用地"), nonnegative=True),
        # the lessor of the land leased in: places a tenant on its lessor's parcels
        Field("lessor_code", "出租方统一社会信用代码",
              aliases=("出租方信用代码", "出租方代码", "出租人统一社会信用代码", "出租单位统一社会信用代码")),
        Field("production_year", "投产年份", "int", None, ("投产年度", "开始投产年份", "投产年")),
    ),
)

UNITS = Kind(
    "units", "工业产业单元", True, "unit_id", ("name",),
    (
        Field("unit_id", "单元编号", aliases=("单元代码", "产业单元编号", "编号", "代码", "DYBH", "DYDM", "ID")),
        Field("name", "单元名称", aliases=("产业单元名称", "名称", "DYMC", "NAME")),
        Field("district_id", "行政区划代码", aliases=("XZQDM", "行政区代码", "区划代码")),
        Field("planned_mu", "规划面积", "float", "亩", ("规划用地面积", "单元面积", "GHMJ"), nonnegative=True),
        Field("approval_no", "批准文号", aliases=("批复文号", "批准文件", "文号", "PZWH")),
    ),
)

LANDUSE = Kind(
    "landuse", "地类图斑", True, "patch_id", ("land_class_code",),
    (
        Field("patch_id", "标识码", aliases=("图斑标识码", "要素标识码", "BSM")),
        Field("patch_no", "图斑编号", aliases=("图斑号", "TBBH")),
        Field("land_class_code", "地类编码", aliases=("地类代码", "用地代码", "用地分类代码", "DLBM", "YDDM")),
        Field("land_class_name", "地类名称", aliases=("地类", "用地类型", "用地性质", "DLMC", "YDMC")),
        Field("urban_code", "城镇村属性码", aliases=("城镇村属性代码", "城镇村属性", "CZCSXM")),
        Field("new_year", "新增年份", "int", None,
              ("新增建设用地年份", "变更年份", "变更年度", "批准年份", "供地年份", "BGNF", "XZNF")),
        Field("district_id", "行政区划代码", aliases=("XZQDM", "行政区代码", "区划代码")),
        Field("location_code", "坐落单位代码", aliases=("坐落单位", "ZLDWDM")),
        Field("survey_area_m2", "图斑面积", "float", "m2", ("TBMJ",), nonnegative=True),
    ),
)

#: Recovery methods (收回方式) of a supply record: the review measures that take land back.
RECOVERY_METHODS = RECOVERY_MEASURES

# 腾笼换鸟: land taken back and supplied again, one record per parcel (the 收回 and the 再供应)
SUPPLIES = Kind(
    "supplies", "收回与再供应", False, "parcel_id", ("parcel_id", "recovered_date"),
    (
        Field("parcel_id", "宗地编号", aliases=("宗地代码", "地块编号", "地块代码", "宗地号", "ZDDM", "DKBH", "ZDBH")),
        Field("recovered_date", "收回日期", "date", None, ("土地收回日期", "收储日期", "收回时间")),
        Field("recovered_mu", "收回面积", "float", "亩", ("收回土地面积", "收回用地面积"), nonnegative=True),
        Field("recovery_method", "收回方式", aliases=("收回类型", "处置方式")),
        Field("supply_date", "供地日期", "date", None, ("再供应日期", "供应日期", "出让日期", "合同签订日期")),
        Field("new_holder_code", "受让人统一社会信用代码",
              aliases=("受让人信用代码", "受让单位统一社会信用代码", "竞得人统一社会信用代码", "统一社会信用代码")),
        Field("new_holder_name", "受让人", aliases=("受让人名称", "受让单位", "竞得人", "竞得单位")),
        Field("supply_method", "供地方式", aliases=("供应方式", "出让方式")),
        Field("price", "出让价款", "float", "万元", ("成交价款", "土地价款", "出让金"), nonnegative=True),
    ),
)

#: Every importable kind by name.
KINDS: dict[str, Kind] = {k.name: k for k in (DISTRICTS, PARKS, PLATFORMS, PARCELS, BUILDINGS, ENTERPRISES, UNITS,
                                              LANDUSE, SUPPLIES)}


def get_kind(name: str) -> Kind:
    """The :class:`Kind` called ``name``; an unknown name lists the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"未知的图层类型 '{name}'；可用的类型：{', '.join(KINDS)}") from None


#: Fields of the result tables, with labels and units (exports use ``Field.header``).
RESULT_FIELDS: tuple[Field, ...] = (
    Field("rank", "排名", "int"),
    Field("year", "年度", "int"),
    Field("area_mu", "用地面积", "float", "亩"),
    Field("area_m2", "用地面积", "float", "m2"),
    Field("zone_area_mu", "范围面积", "float", "亩"),
    Field("land_mu", "用地面积", "float", "亩"),
    Field("owned_mu", "自有用地面积", "float", "亩"),
    Field("evaluated_mu", "参评用地面积", "float", "亩"),
    Field("industrial_mu", "工业用地面积", "float", "亩"),
    Field("built_mu", "已建用地面积", "float", "亩"),
    Field("holder_land_mu", "权利人用地面积", "float", "亩"),
    Field("tax_per_mu", "亩均税收", "float", "万元/亩"),
    Field("value_added_per_mu", "亩均增加值", "float", "万元/亩"),
    Field("revenue_per_mu", "亩均营业收入", "float", "万元/亩"),
    Field("output_per_mu", "亩均产值", "float", "万元/亩"),
    Field("above_scale_tax_per_mu", "规上亩均税收", "float", "万元/亩"),
    Field("above_scale_value_added_per_mu", "规上亩均增加值", "float", "万元/亩"),
    Field("plot_ratio", "容积率", "float"),
    Field("building_coefficient", "建筑系数", "float", share=True),
    Field("admin_share", "行政办公及生活服务设施用地比重", "float", share=True),
    Field("investment_intensity", "投资强度", "float", "万元/亩"),
    Field("industrial_share", "工业用地占比", "float", share=True),
    Field("built_share", "已建用地占比", "float", share=True),
    Field("unbuilt_share", "未建用地占比", "float", share=True),
    Field("building_count", "建筑物数", "int", "幢"),
    Field("footprint_m2", "建筑基底面积", "float", "m2"),
    Field("floor_area_m2", "计容建筑面积", "float", "m2"),
    Field("admin_footprint_m2", "办公生活建筑基底面积", "float", "m2"),
    Field("parcel_count", "地块数", "int", "宗"),
    Field("enterprise_count", "企业数", "int", "家"),
    Field("district_id", "行政区划代码"),
    Field("district_name", "行政区"),
    Field("park_id", "园区代码"),
    Field("park_name", "园区"),
    Field("platform_id", "平台代码"),
    Field("platform_name", "平台"),
    Field("holder_enterprise_name", "企业名称"),
    Field("industrial", "工业用地", "bool"),
    Field("evaluated", "参与评价", "bool"),
    Field("holder_evaluated_mu", "权利人参评用地面积", "float", "亩"),
    Field("tenant_mu", "承租企业用地面积", "float", "亩"),
    Field("tenant_count", "承租企业数", "int", "家"),
    Field("location_basis", "位置依据"),
    Field("missing_reason", "缺失原因"),
    # evaluation (综合评价)
    Field("group_label", "企业类别"),
    Field("score", "综合得分", "float"),
    Field("class", "分类"),
    Field("class_name", "分类名称"),
    Field("previous_class", "上年分类"),
    Field("class_change", "分类变化"),
    Field("veto_reason", "否决原因"),
    Field("not_scored_reason", "未参评原因"),
    Field("rank_in_group", "同类企业排名", "int"),
    Field("rank_in_district", "区县内排名", "int"),
    Field("rank_in_industry", "行业内排名", "int"),
    Field("rule_set", "评价规则"),
    Field("va_per_energy", "单位能耗增加值", "float", "万元/吨标准煤"),
    Field("va_per_emission", "单位排放增加值", "float", "万元/吨"),
    Field("labour_productivity", "全员劳动生产率", "float", "万元/人"),
    Field("rd_intensity", "R&D经费占比", "float", "%"),
    Field("tax_per_kwh", "单位用电税收", "float", "万元/万千瓦时"),
    Field("value_added_rate", "增加值率", "float", "%"),
    Field("water_per_value_added", "单位增加值用水量", "float", "立方米/万元"),
    Field("score_tax_per_mu", "得分·亩均税收", "float"),
    Field("score_value_added_per_mu", "得分·亩均增加值", "float"),
    Field("score_va_per_energy", "得分·单位能耗增加值", "float"),
    Field("score_va_per_emission", "得分·单位排放增加值", "float"),
    Field("score_labour_productivity", "得分·全员劳动生产率", "float"),
    Field("score_rd_intensity", "得分·R&D经费占比", "float"),
    Field("score_tax_per_kwh", "得分·单位用电税收", "float"),
    Field("benchmark", "基准值", "float"),
    Field("weight", "权重", "float"),
    # flags, compliance, what-if
    *(Field(kind, name, "bool") for kind, name in {**FLAG_KINDS, **CHECK_KINDS}.items()),
    Field("idle_since", "闲置起算日期", "date"),
    Field("idle_tier", "闲置处置档次"),
    Field("idle_tier_label", "闲置处置"),
    Field("idle_fee", "土地闲置费", "float", "万元"),
    Field("flags", "标记"),
    Field("flag_reasons", "标记原因"),
    Field("kind_label", "标记类型"),
    Field("rule", "规则"),
    Field("reason", "原因"),
    Field("builtup_fraction", "影像建成比例", "float", share=True),
    Field("tax_gain", "税收增量", "float", "万元"),
    Field("value_added_gain", "增加值增量", "float", "万元"),
    Field("target_tax_per_mu", "同行业亩均税收中位数", "float", "万元/亩"),
    Field("target_value_added_per_mu", "同行业亩均增加值中位数", "float", "万元/亩"),
    Field("label", "指标"),
    Field("measured", "实测值", "float"),
    Field("required_text", "要求"),
    Field("status", "结论"),
    # differentiated measures by class (差别化资源要素配置)
    Field("measure_id", "措施编号"),
    Field("measure", "措施"),
    Field("agency", "实施部门"),
    Field("measure_kind", "措施类型"),
    Field("standard", "标准"),
    Field("rate", "标准值", "float"),
    Field("rate_unit", "标准单位"),
    Field("charge_base", "计费基数"),
    Field("base_label", "计费基数项目"),
    Field("base_value", "计费基数值", "float"),
    Field("base_unit", "计费基数单位"),
    Field("amount", "金额", "float", "万元"),
    Field("quantity", "数量", "float"),
    Field("quantity_unit", "数量单位"),
    Field("treatment", "处理"),
    Field("note", "说明"),
    Field("measure_source", "依据"),
    Field("missing_count", "缺少计费基数", "int", "家"),
    # 万亩千亿 platforms
    Field("planned_vs_guide", "规划面积/万亩", "float", share=True),
    Field("output_yi", "产值", "float", "亿元"),
    Field("gap_to_guide_yi", "距千亿差距", "float", "亿元"),
    Field("output_vs_guide", "产值/千亿", "float", share=True),
    Field("target_output_yi", "目标产值", "float", "亿元"),
    Field("gap_to_target_yi", "距目标差距", "float", "亿元"),
    Field("lead_output_yi", "主导产业产值", "float", "亿元"),
    Field("lead_share", "主导产业占比", "float", share=True),
    Field("lead_share_ok", "主导产业占比超过80%", "bool"),
    Field("parcel_mu", "地块面积", "float", "亩"),
    Field("supplied_mu", "已供地", "float", "亩"),
    Field("unsupplied_mu", "未供地（批而未供）", "float", "亩"),
    Field("unbuilt_supplied_mu", "供而未用", "float", "亩"),
    Field("idle_mu", "闲置土地", "float", "亩"),
    Field("inside_output_per_mu", "平台内亩均产值", "float", "万元/亩"),
    Field("outside_output_per_mu", "所在区县平台外亩均产值", "float", "万元/亩"),
    Field("outside_tax_per_mu", "所在区县平台外亩均税收", "float", "万元/亩"),
    # zone composite evaluation and 四提升两降低 (geo/zones.py)
    Field("composite", "区域综合得分", "float"),
    Field("composite_rank", "综合得分排名", "int"),
    Field("composite_weight", "有数据的指标权重合计", "float"),
    Field("tax_per_mu_growth", "亩均税收比上年增长", "float", share=True),
    Field("value_added_per_mu_growth", "亩均增加值比上年增长", "float", share=True),
    Field("d_mu", "上年D类企业用地", "float", "亩"),
    Field("d_improved_mu", "其中企业当年提档的用地", "float", "亩"),
    Field("d_land_improved_share", "D类企业用地整治提升比例", "float", share=True),
    Field("idle_parcel_mu", "闲置土地", "float", "亩"),
    Field("idle_disposed_mu", "其中协议收回、依法收回", "float", "亩"),
    Field("idle_disposed_share", "闲置土地处置率", "float", share=True),
    Field("score_idle_disposed_share", "得分·闲置土地处置率", "float"),
    Field("energy_value_added", "有能耗数据企业的增加值", "float", "万元"),
    Field("emission_value_added", "有排放数据企业的增加值", "float", "万元"),
    Field("energy_per_va", "单位增加值能耗", "float", "吨标准煤/万元"),
    Field("emission_per_va", "单位增加值排放", "float", "吨/万元"),
    Field("output_share", "产值占比", "float", share=True),
    Field("score_tax_per_mu_growth", "得分·亩均税收增长", "float"),
    Field("score_value_added_per_mu_growth", "得分·亩均增加值增长", "float"),
    Field("score_d_land_improved_share", "得分·D类用地整治提升比例", "float"),
    # industrial-land red line (geo/redline.py)
    Field("industrial_km2", "工业用地", "float", "平方公里"),
    Field("urban_construction_km2", "城镇建设用地", "float", "平方公里"),
    Field("industrial_outside_km2", "城镇建设用地以外的工业用地", "float", "平方公里"),
    Field("new_construction_km2", "新增建设用地", "float", "平方公里"),
    Field("new_industrial_km2", "新增工业用地", "float", "平方公里"),
    Field("new_industrial_share", "新增工业用地占新增建设用地比例", "float", share=True),
    Field("industrial_km2_min", "工业用地下限", "float", "平方公里"),
    Field("industrial_share_min", "工业用地占比下限", "float", share=True),
    Field("new_industrial_share_min", "新增工业用地占比下限", "float", share=True),
    Field("industrial_km2_ok", "工业用地面积达标", "bool"),
    Field("industrial_share_ok", "工业用地占比达标", "bool"),
    Field("new_industrial_share_ok", "新增工业用地占比达标", "bool"),
    Field("redline_ok", "红线结论", "bool"),
    Field("converted_count", "单元内改变用途的地块", "int", "宗"),
    Field("converted_mu", "单元内改变用途的地块面积", "float", "亩"),
    Field("unit_name", "工业产业单元"),
    Field("unit_share", "在单元内的面积比例", "float", share=True),
    Field("survey_class_code", "土地利用地类编码"),
    Field("survey_class_name", "土地利用地类名称"),
    Field("survey_other_share", "非工业地类覆盖比例", "float", share=True),
)

FIELDS_BY_NAME: dict[str, Field] = {}
for _kind in KINDS.values():
    for _f in _kind.fields:
        FIELDS_BY_NAME.setdefault(_f.name, _f)
for _f in RESULT_FIELDS:
    FIELDS_BY_NAME[_f.name] = _f


#: The result tables (``result_<level>``) with their Chinese names.
RESULT_TABLES: dict[str, str] = {
    "result_parcel": "地块评价结果", "result_enterprise": "企业评价结果", "result_park": "园区评价结果",
    "result_platform": "万亩千亿平台评价结果", "result_district": "行政区评价结果", "result_building": "建筑物计算结果",
    "result_flag": "低效闲置标记", "result_compliance": "控制指标与合同核查", "result_benchmark": "评价基准值",
}

#: A review decision's fields (table ``mujun_review``; prefixed ``review_`` in the review views).
REVIEW_FIELDS: tuple[Field, ...] = (
    Field("status", "审核结论"),
    Field("measure", "处置措施"),
    Field("deadline", "整改期限", "date"),
    Field("comment", "审核意见"),
    Field("assignee", "经办人"),
    Field("decided_by", "审核人"),
    Field("decided_at", "审核时间"),
    Field("version", "修改次数", "int"),
)

#: Columns labelled per table: the workspace's own tables, and result columns that only
#: one table carries (their meaning is the table's). Used for the GeoPackage's field titles
#: (``gpkg_data_columns``), not for reading.
TABLE_FIELDS: dict[str, tuple[Field, ...]] = {
    "mujun_review": (Field("parcel_id", "宗地编号"), Field("year", "年度", "int"), *REVIEW_FIELDS),
    "mujun_review_log": (
        Field("time", "时间"), Field("user", "用户"), Field("address", "访问地址"), Field("action", "操作"),
        Field("parcel_id", "宗地编号"), Field("year", "年度", "int"), Field("version", "修改次数", "int"),
        Field("changes", "变更内容"), Field("before", "变更前（JSON）"), Field("after", "变更后（JSON）"),
    ),
    "mujun_meta": (Field("key", "项目"), Field("value", "值")),
    "mujun_import_log": (
        Field("time", "导入时间"), Field("kind", "图层类型"), Field("source", "源文件"), Field("layer", "源图层"),
        Field("rows", "行数"), Field("years", "年度"),
    ),
    "mujun_rasters": (
        Field("kind", "影像类型"), Field("path", "文件路径"), Field("classes", "建成类别"), Field("scale", "比例系数", "float"),
        Field("crs", "坐标系"), Field("west", "西边界", "float", "度"), Field("south", "南边界", "float", "度"),
        Field("east", "东边界", "float", "度"), Field("north", "北边界", "float", "度"),
        Field("width", "宽度", "int", "像元"), Field("height", "高度", "int", "像元"),
        Field("resolution", "分辨率", "float", "米"), Field("size_bytes", "文件大小", "int", "字节"),
        Field("mtime_ns", "修改时间戳", "int", "纳秒"), Field("sha256", "SHA-256 校验值"),
        Field("registered_at", "登记时间"),
    ),
    "result_enterprise": (Field("group", "企业类别代码"), Field("evaluated_in_score", "参与综合评分", "bool")),
    "result_benchmark": (
        Field("group", "企业类别代码"), Field("indicator", "指标代码"), Field("members", "参评企业数", "int", "家"),
        Field("benchmark_source", "基准值来源"),
    ),
    "result_compliance": (
        Field("source", "核查依据"), Field("indicator", "指标代码"), Field("op", "比较方式"),
        Field("required", "要求值", "float"), Field("passed", "是否达标", "bool"),
    ),
    "result_flag": (
        Field("kind", "标记类型代码"), Field("value", "实际值", "float"), Field("threshold", "认定阈值", "float"),
    ),
}

#: GeoPackage's own columns: the feature id (``OGC_FID`` in views) and the geometry.
_GPKG_FIELDS = {"fid": Field("fid", "要素编号", "int"), "OGC_FID": Field("OGC_FID", "要素编号", "int"),
                "geom": Field("geom", "图形"), "geometry": Field("geometry", "图形")}


def column_field(table: str, column: str) -> Field | None:
    """The :class:`Field` describing ``column`` of the workspace table ``table`` (``None``
    for a column the schema does not know).

    Examples
    --------
    >>> column_field("mujun_review", "status").label, column_field("result_compliance", "status").label
    ('审核结论', '结论')
    """
    for f in TABLE_FIELDS.get(table, ()):
        if f.name == column:
            return f
    return _GPKG_FIELDS.get(column) or FIELDS_BY_NAME.get(column)


def label(name: str) -> str:
    """The Chinese header (with unit) of a canonical field name; the name itself if unknown.

    Examples
    --------
    >>> label("tax_per_mu"), label("area_mu"), label("credit_code"), label("rank")
    ('亩均税收(万元/亩)', '用地面积(亩)', '统一社会信用代码', '排名')
    """
    f = FIELDS_BY_NAME.get(name)
    return f.header if f else name
