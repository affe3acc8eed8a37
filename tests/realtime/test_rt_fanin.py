"""realtime.fanin's pure parts: upstream specs, the configuration checks and file, fan-in replay
requests, merging per-upstream answers."""

from __future__ import annotations

import json

import pytest

from realtime.fanin import (
    FaninConfig,
    FaninConfigError,
    Upstream,
    check_config,
    load_config_file,
    merge_by_time,
    parse_request,
    parse_upstream,
    upstream_cursors,
)


def test_rt_fanin_parse_upstream():
    assert parse_upstream("bed1=tcp://h1:5556,tcp://h1:5557") == Upstream("bed1", "tcp://h1:5556", "tcp://h1:5557")
    assert parse_upstream("tcp://h1:5556") == Upstream("h1:5556", "tcp://h1:5556")
    assert parse_upstream("b=tcp://h:1,tcp://h:2,key=/k/b.key") == Upstream("b", "tcp://h:1", "tcp://h:2", "/k/b.key")
    for bad in ("", "bed1=", "h1:5556", "a=tcp://h:1,tcp://h:2,tcp://h:3", "a=tcp://h:1,key=x,key=y"):
        with pytest.raises(FaninConfigError) as err:
            parse_upstream(bad)
        assert repr(bad) in str(err.value)


def test_rt_fanin_check_config_names_each_problem():
    local = Upstream("bed1", "tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557")
    assert check_config(FaninConfig(upstreams=(local,))) == []
    errors = check_config(
        FaninConfig(
            upstreams=(local, local, Upstream("far", "tcp://10.0.0.9:5556")),
            bind="tcp://0.0.0.0:6556",
            curve_secret_key="/k/server.key_secret",
            upstream_timeout_s=0,
        )
    )
    text = "\n".join(errors)
    assert "['bed1'] more than once" in text
    assert "curve_clients_dir=''" in text
    assert "'tcp://10.0.0.9:5556' is not loopback" in text
    assert "upstream_timeout_s must be > 0, got 0" in text
    assert check_config(FaninConfig(upstreams=()))[0].startswith("no upstream daemons")
    keyed = Upstream("far", "tcp://10.0.0.9:5556", "", "/k/far.key")
    assert check_config(FaninConfig(upstreams=(keyed,), client_key="/k/fanin.key_secret")) == []
    assert "have no key=FILE" in check_config(FaninConfig(upstreams=(keyed, local), client_key="/k/f"))[0]


def test_rt_fanin_config_file(tmp_path):
    path = tmp_path / "fanin.toml"
    path.write_text(
        '[fanin]\nbind = "tcp://127.0.0.1:7000"\nupstream_timeout_s = 1.5\n'
        '[[upstream]]\nname = "w3-bed1"\nendpoint = "tcp://127.0.0.1:5556"\nreplay_endpoint = "tcp://127.0.0.1:5557"\n'
        'server_key = "/etc/realtime-fanin/daemons/w3-bed1.key"\n'
    )
    settings, ups = load_config_file(path)
    assert settings == {"bind": "tcp://127.0.0.1:7000", "upstream_timeout_s": 1.5}
    assert ups == [
        Upstream("w3-bed1", "tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557", "/etc/realtime-fanin/daemons/w3-bed1.key")
    ]
    path.write_text('[fanin]\nbnid = "x"\n')
    with pytest.raises(FaninConfigError, match=r"\['bnid'\]"):
        load_config_file(path)
    path.write_text("[[upstream]]\nname = 3\nendpoint = 'tcp://h:1'\n")
    with pytest.raises(FaninConfigError, match=r"'name': 3"):
        load_config_file(path)


def test_rt_fanin_parse_request():
    names = ["bed1", "bed2", "bed3"]
    ok = parse_request(json.dumps({"since": {"bed1": 4}, "others_since_seq": 0}).encode(), names)["request"]
    assert upstream_cursors(ok, names) == {"bed1": 4, "bed2": 0, "bed3": 0}
    only = parse_request(b'{"since": {"bed2": 7}}', names)["request"]
    assert upstream_cursors(only, names) == {"bed2": 7} and only["limit"] > 0
    for raw, words in (
        (b"[1]", "got [1]"),
        (b"\xff", r"b'\xff'"),
        (b'{"since_seq": 3}', "since_seq 3"),
        (b'{"since": {"bed9": 1}}', "['bed9']"),
        (b'{"since": {"bed1": true}}', "True"),
        (b'{"others_since_seq": "0"}', "'0'"),
        (b'{"limit": 0}', "got 0"),
        (b'{"locate": {"run": 0}}', "'run': 0"),
        (b'{"ack": 2}', "daemon's own replay socket"),
        (b'{"since": {}, "colour": 1}', "['colour']"),
    ):
        assert words in parse_request(raw, names)["error"], raw


def test_rt_fanin_merge_by_time_keeps_each_upstreams_order():
    sections = {
        "a": [{"seq": 1, "wall_time": 5.0}, {"seq": 2, "wall_time": 1.0}],  # a clock step back on a's host
        "b": [{"seq": 7, "wall_time": 2.0}, {"seq": 8, "wall_time": 6.0}],
    }
    merged = [(name, m["seq"]) for name, m in merge_by_time(sections)]
    assert sorted(merged) == [("a", 1), ("a", 2), ("b", 7), ("b", 8)]
    assert [s for n, s in merged if n == "a"] == [1, 2] and [s for n, s in merged if n == "b"] == [7, 8]


def test_rt_fanin_shipped_config_is_usable():
    from pathlib import Path

    settings, ups = load_config_file(Path(__file__).resolve().parents[2] / "config" / "realtime-fanin.toml")
    assert check_config(FaninConfig(upstreams=tuple(ups), **settings)) == []
    assert [u.name for u in ups] == ["ward3-bed1", "ward3-bed2"] and all(u.replay_endpoint for u in ups)


def test_a_port_just_released_is_bound_again_and_one_held_is_an_error():
    """A fan-in closed and started again in one process binds its old ports again (ZeroMQ releases them in its
    I/O thread, a moment later); a port another socket holds is still refused once the wait is over."""
    import time

    import zmq

    from realtime.fanin import _bind

    ctx = zmq.Context.instance()
    first = ctx.socket(zmq.XPUB)
    first.bind("tcp://127.0.0.1:0")
    endpoint = first.getsockopt_string(zmq.LAST_ENDPOINT)
    holder = ctx.socket(zmq.XPUB)
    try:
        started = time.monotonic()
        with pytest.raises(zmq.ZMQError) as err:
            _bind(holder, endpoint, wait_s=0.2)
        assert err.value.errno == zmq.EADDRINUSE and time.monotonic() - started >= 0.2
        first.close(linger=0)
        for _ in range(20):  # released and bound again, each time
            _bind(holder, endpoint)
            holder.close(linger=0)
            holder = ctx.socket(zmq.XPUB)
    finally:
        for sock in (first, holder):
            sock.close(linger=0)
