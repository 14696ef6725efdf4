"""LightGBM parameters given by hand (`concord risk train --params`), checked before minutes of reading and training."""

import difflib
import json
from functools import cache

from concord.errors import ConcordError


def parse_params(text: str) -> dict:
    """The JSON object of LightGBM parameters in `text`, refused with what to fix if LightGBM would not use it."""
    try:
        params = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConcordError(f"--params must be a JSON object: {e}") from None
    if not isinstance(params, dict):
        raise ConcordError('--params must be a JSON object, e.g. {"learning_rate": 0.1}')
    if unknown := [key for key in params if key not in known_names()]:
        raise ConcordError(f"--params: LightGBM has no parameter {', '.join(map(_with_closest, unknown))}; "
                           "see https://lightgbm.readthedocs.io/en/stable/Parameters.html")
    import lightgbm as lgb
    import numpy as np

    from concord.risk.learning.model import DEFAULT_PARAMS

    # LightGBM checks the values when a booster is made; the Dataset's own verbose -1 keeps its warnings
    # about these four made-up rows off the officer's screen
    rows = lgb.Dataset(np.arange(4.0).reshape(4, 1), label=[0, 1, 0, 1], params={"verbose": -1})
    try:
        lgb.Booster({**DEFAULT_PARAMS, **params, "verbose": -1}, rows)
    except lgb.basic.LightGBMError as e:
        raise ConcordError(f"--params: LightGBM refuses them: {str(e).split(' at ')[0]}") from None
    return params


@cache
def known_names() -> frozenset[str]:
    """Every parameter name and alias the installed LightGBM reads (learning_rate, eta, shrinkage_rate, ...)."""
    # LightGBM ignores a name it does not know, with only an "Unknown parameter" log line that verbose -1
    # silences. The table it decides that with is the one LGBM_DumpParamAliases returns, which the Python
    # package reads in _ConfigAliases: every name with its aliases (checked on 4.7.0: none of its 308 names
    # logs "Unknown parameter"). Catching that log line through lgb.register_logger instead would need
    # verbose >= 0, swap the process-wide logger (there is no public way to put the previous one back, and the
    # server may be training at the same time), and parse a log message. _ConfigAliases is private: a
    # LightGBM that moves it makes this raise (and test_risk_cli's params tests fail), never skips the check.
    from lightgbm.basic import _ConfigAliases

    return frozenset(name for names in _ConfigAliases._get_all_param_aliases().values() for name in names)


def _with_closest(key: str) -> str:
    closest = difflib.get_close_matches(key, known_names(), n=1)
    return f"{key!r} (did you mean {closest[0]!r}?)" if closest else repr(key)
