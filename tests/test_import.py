import subprocess
import sys


def test_import_does_not_load_torch():
    code = "import sys, logitscope, logitscope.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_public_api_resolves():
    import logitscope
    for name in logitscope.__all__:
        assert getattr(logitscope, name) is not None
