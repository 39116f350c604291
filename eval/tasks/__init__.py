"""The benchmarks, one folder each: its lm-eval YAML, its data reader (``reader.py``), the
``!function`` helpers its YAML names (``hooks.py``, beside the YAML because lm-eval resolves them
there), its options (``config.py``) and its item columns and metrics (``metrics.py``).

``eval.tasks.registry`` lists them; lm-eval's ``TaskManager`` indexes this folder (``TASKS_DIR``).
"""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
