"""Where nothing compiles (no C compiler), the package still builds and
serves, from its Python source: the compiled parts are optional (setup.py)."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ANSWER = """
import sys
# this checkout's editable install would find skydns's modules here first: only the wheel's count
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
import skydns_common.native as n
from skydns import codec, transport
from skydns.config import Config, normalise
from skydns.forward import Forwarder
from skydns.handler import Handler, State
from skydns.metrics import Metrics
from skydns.store import Store
store = Store()
store.replace([("/skydns/local/cluster/svc/default/web/1a2b", b'{"host":"10.0.0.7"}')], 1)
state = State(store, normalise(Config(domain="cluster.local.", nameservers=())))
state.connected = True
query = bytes.fromhex("abcd01000001000000000000") + b"\\x03web\\x07default\\x03svc\\x07cluster\\x05local\\x00\\x00\\x01\\x00\\x01"
reply = Handler(state, Forwarder(state.config), Metrics()).handle(query, False)
print(n.reason, codec.__file__.startswith(sys.argv[1]), transport.batch_module() is None, reply[-4:].hex())
"""


@pytest.mark.process
@pytest.mark.slow
def test_without_a_compiler_the_source_is_built_and_answers(tmp_path):
    env = dict(os.environ, CC="/bin/false")  # every compile fails, as on a machine without gcc
    env.pop("SKYDNS_PURE", None)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
                   env=env, check=True, timeout=600, capture_output=True)
    (wheel,) = tmp_path.glob("skydns_stack-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert not [n for n in names if n.endswith(".so")], names
        assert json.loads(z.read("skydns_common/native.json")) == {}
        z.extractall(tmp_path / "site")
    out = subprocess.run([sys.executable, "-c", ANSWER, str(tmp_path / "site")], cwd=tmp_path, env=dict(env, PYTHONPATH=str(tmp_path / "site")),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["not", "compiled", "True", "True", "0a000007"], out.stdout
