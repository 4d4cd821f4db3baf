"""mujun 亩均: per-mu land efficiency for Zhejiang's "亩均论英雄" reform.

One import namespace: ``mujun.geo`` (pure analytics), ``mujun.layers`` (formats, schemas,
import, validation, the workspace store), ``mujun.webapp`` (the Flask app) and, here, the
application core that the command line and the web app both call: :mod:`mujun.service` (the
service API), the compute engines and :mod:`mujun.cli`.
"""

__version__ = "0.1.0"
