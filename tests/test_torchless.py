"""spaCy without torch in the rewrite's processes: a second less of fixed work per worker, and
torch still importable afterwards (``debias.swap.torchless``). Each case runs in a fresh process,
since whether torch is loaded is process state."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _run(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_rewrite_loads_its_swapper_without_torch_and_torch_imports_after():
    got = _run("""
        import json, sys
        from debias.rewrite.tail import _make_planner
        swapper = _make_planner("to_feminine", None)
        loaded = "torch" in sys.modules
        from thinc import compat
        swapped = swapper.swap("He gave her his book, and the choice was his.")
        import torch
        print(json.dumps({"loaded": loaded, "thinc_torch": compat.has_torch, "swapped": swapped,
                          "sum": float(torch.ones(3).sum())}))
    """)
    assert got == {"loaded": False, "thinc_torch": False, "sum": 3.0,
                   "swapped": "She gave her her book, and the choice was hers."}


def test_a_process_that_loaded_torch_keeps_it_for_spacy():
    got = _run("""
        import json, sys
        import torch
        from debias.swap.torchless import without_torch
        with without_torch():
            import spacy
        from thinc import compat
        print(json.dumps({"same": sys.modules["torch"] is torch, "thinc_torch": compat.has_torch}))
    """)
    assert got == {"same": True, "thinc_torch": True}


def test_the_block_leaves_no_marker_when_it_raises():
    got = _run("""
        import json, sys
        from debias.swap.torchless import without_torch
        try:
            with without_torch():
                blocked = sys.modules.get("torch", "absent")
                raise KeyError("inside")
        except KeyError:
            pass
        print(json.dumps({"blocked": blocked is None, "after": "torch" in sys.modules}))
    """)
    assert got == {"blocked": True, "after": False}


def test_a_named_pipeline_may_load_torch():
    """A transformer pipeline needs torch: only the default pipeline loads without it."""
    got = _run("""
        import json, sys
        from debias.swap.torchless import for_pipeline
        with for_pipeline("en_core_web_trf"):
            named = sys.modules.get("torch", "absent")
        with for_pipeline(None):
            default = sys.modules.get("torch", "absent")
        print(json.dumps({"named": named, "default": default}))
    """)
    assert got == {"named": "absent", "default": None}
