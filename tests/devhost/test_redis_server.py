"""devhost.redis.RedisServer, which the tests' own brokers and caches and `make run` use."""

from devhost.redis import RedisServer, redis_answers


def test_starting_a_running_server_again_keeps_the_one_it_has_and_stop_ends_it():
    """A test that brought its broker back, then its fixture doing so too, left the first redis-server running after
    the test (the second found the port taken and exited; stop() then ended only that one): one per suite run."""
    server = RedisServer().start()
    first = server.proc
    try:
        assert server.start() is server and server.proc is first
    finally:
        server.stop()
    assert first.poll() is not None  # ended, not left behind
    assert not redis_answers(server.port)
