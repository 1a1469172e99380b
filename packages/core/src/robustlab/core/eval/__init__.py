"""Evaluation harness: attack suites, ``evaluate``, results, sanity checks.

```python
from robustlab.core.eval import evaluate

result = evaluate(model, "fashion-mnist", "pgd20", n=1000, eps="8/255")
result.to_frame(); result.save("metrics.json")
```
"""

from robustlab.core.eval.checks import SanityConfig
from robustlab.core.eval.eps import format_eps, parse_eps
from robustlab.core.eval.harness import evaluate
from robustlab.core.eval.result import ROBUSTBENCH_KEYS, EvalResult
from robustlab.core.eval.shard import ShardSpec, evaluate_shard, load_shards, merge_shards
from robustlab.core.eval.suites import SUITES, AttackSpec, Suite, resolve_suite

__all__ = [
    "ROBUSTBENCH_KEYS",
    "SUITES",
    "AttackSpec",
    "EvalResult",
    "SanityConfig",
    "ShardSpec",
    "Suite",
    "evaluate",
    "evaluate_shard",
    "format_eps",
    "load_shards",
    "merge_shards",
    "parse_eps",
    "resolve_suite",
]
