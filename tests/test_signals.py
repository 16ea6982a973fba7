"""automl.signals: a stop that lands inside a finalizer is neither lost nor shown as a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_stop_inside_a_finalizer_is_raised_again_without_a_traceback():
    # SIGTERM handled while a __del__ runs (TensorFlow's AtomicFunction.__del__ in `automl export`): Python
    # swallows the exception there and would print "Exception ignored in ..." and a traceback.
    script = textwrap.dedent("""\
        import os, signal
        from automl.errors import Interrupted
        from automl.signals import raise_if_interrupted, stop_on_signals

        class Finalized:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(200_000):  # the handler runs here, inside the finalizer
                    pass

        with stop_on_signals():
            Finalized()
            try:
                raise_if_interrupted()
                print("lost")
            except Interrupted as stop:
                print("raised again:", stop.signal_name)

        class Outside:  # after the block, other unraisable exceptions are reported as before
            def __del__(self):
                raise ValueError("shown")

        Outside()
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "raised again: SIGTERM"
    assert "Interrupted" not in done.stderr and "ValueError: shown" in done.stderr
