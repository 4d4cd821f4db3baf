"""Run by Debian's Python with QGIS's bindings (python3-qgis), not by pytest: add OGC API –
Features collections as QGIS layers (the OAPIF provider, HTTP Basic with a user name and an
access token), or layers of a GeoPackage (the OGR provider, as "添加矢量图层" adds them), and
print, per collection or layer, whether the layer is valid, its CRS, the number of features
read and their total area in EPSG:4549, as JSON lines.

    /usr/bin/python3 qgis_read.py URL USER TOKEN COLLECTION...
    /usr/bin/python3 qgis_read.py --gpkg FILE LAYER...
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no screen

from qgis.core import (  # noqa: E402
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProject,
    QgsVectorLayer,
)

app = QgsApplication([], False)
app.initQgis()
gk = QgsCoordinateReferenceSystem("EPSG:4549")
if sys.argv[1] == "--gpkg":
    path, names = sys.argv[2], sys.argv[3:]
else:
    url, user, token = sys.argv[1:4]
    names = sys.argv[4:]
for name in names:
    if sys.argv[1] == "--gpkg":
        layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
    else:
        layer = QgsVectorLayer(f"url='{url}' typename='{name}' username='{user}' password='{token}'", name, "OAPIF")
    count, area = 0, 0.0
    if layer.isValid():
        to_gk = QgsCoordinateTransform(layer.crs(), gk, QgsProject.instance())
        for feature in layer.getFeatures():
            count += 1
            geometry = feature.geometry()
            if not geometry.isNull():
                geometry.transform(to_gk)
                area += geometry.area()
    print(json.dumps({"collection": name, "valid": layer.isValid(), "crs": layer.crs().authid(), "features": count,
                      "area": area, "qgis": Qgis.QGIS_VERSION}), flush=True)
    del layer
# QgsApplication.exitQgis() can crash a headless QGIS 3.22 on its way out: everything is
# printed and flushed, so leave without it
os._exit(0)
