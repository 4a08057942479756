"""scripts/studio.py's body from its composed config: it serves on 127.0.0.1 and a redis:// queue with no
server behind it is a one-line error."""
from urllib.request import urlopen

import pytest
from hydra import compose, initialize_config_dir

from schemas.check import ConfigError
from tests.training_harness import ROOT

pytestmark = pytest.mark.browser


def studio_config(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs" / "scripts"), version_base="1.3"):
        return compose("studio", overrides=list(overrides))


def test_studio_py_serves_the_page_on_localhost_only(tiny_run):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[studio]')")
    from scripts.studio import serve
    app, url = serve(studio_config(f"run={tiny_run}", "port=0", "device=cpu"), block=False)
    try:
        assert url.startswith("http://127.0.0.1:") and urlopen(url).status == 200
        assert "Studio" in urlopen(f"{url}config").read().decode()
    finally:
        app.close()


def test_a_redis_queue_with_no_server_is_a_one_line_error(tiny_run):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[studio]')")
    pytest.importorskip("redis", reason="the redis client is not installed (pip install -e '.[queue]')")
    from scripts.studio import serve
    with pytest.raises(ConfigError, match=r"queue=redis://127.0.0.1:1/0: no Redis server answers there") as info:
        serve(studio_config(f"run={tiny_run}", "queue=redis://127.0.0.1:1/0"), block=False)
    assert "\n" not in str(info.value)
