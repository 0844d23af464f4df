"""This process's place among data-parallel workers started by `paddle.distributed.launch`."""
import numpy as np
import paddle


class World:
    """Rank and size, and the few collectives the training loop needs (one process: rank 0 of 1, no-ops)."""

    def __init__(self):
        self.size = paddle.distributed.get_world_size()
        self.rank = paddle.distributed.get_rank()
        if self.size > 1:
            use_socket_store()
            paddle.distributed.init_parallel_env()

    def device(self, kind):
        """cpu, gpu, or with several processes this process's own GPU."""
        if kind == "gpu" and self.size > 1:
            return f"gpu:{paddle.distributed.ParallelEnv().dev_id}"
        return kind

    def barrier(self):
        if self.size > 1:
            paddle.distributed.barrier()

    def agree(self, flag):
        """Rank 0's decision (which only it can make: it alone evaluates), the same on every rank."""
        return bool(self.share(int(flag)))

    def share(self, value):
        """Rank 0's int64 `value`, the same on every rank."""
        if self.size == 1:
            return value
        t = paddle.to_tensor([value], dtype="int64")
        paddle.distributed.broadcast(t, src=0)
        return int(t.item())

    def mean(self, values):
        """Mean over workers of a list of floats: the global batch's loss for logging."""
        if self.size == 1:
            return values
        t = paddle.to_tensor(np.asarray(values, dtype="float64"))
        paddle.distributed.all_reduce(t)
        return (t / self.size).numpy().tolist()


def use_socket_store():
    """Rank 0's rendezvous store as sockets, not libuv (Paddle 3's default). The libuv store's thread aborts rank 0
    now and then when another rank disconnects while rank 0 exits (a core dump: LibUVClient::readCallback ->
    abort, launch reports exit -6 after a finished run); the socket store has no such path. Paddle 2.6 has only
    the socket store, and no flag to set."""
    try:
        paddle.set_flags({"FLAGS_tcp_store_using_libuv": False})
    except ValueError:
        pass
