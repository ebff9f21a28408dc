"""Selection from pools that do not fit in memory: shards read one at a time, scores cached per shard, subsets written
as parquet shards (:mod:`~hf_select.streaming.engine`), and the same steps on a cluster through datatrove
(:mod:`~hf_select.streaming.datatrove_steps`, extra ``hf-select[datatrove]``).

``hs.select``, ``Selector.score`` and ``hf-select select`` take a stream directly: a ``datasets.IterableDataset``, a
parquet / jsonl glob (``"shards/*.parquet"``), a folder of shards or a list of shard files.
"""

from typing import TYPE_CHECKING

_import_structure = {
    "config": ["StreamConfig"],
    "source": ["StreamSource", "StreamError", "is_stream"],
    "engine": ["score_stream", "StreamScores"],
    "write": ["write_subset", "push_stream_selection"],
}

if TYPE_CHECKING:  # pragma: no cover
    from .config import StreamConfig
    from .engine import StreamScores, score_stream
    from .source import StreamError, StreamSource, is_stream
    from .write import push_stream_selection, write_subset
else:
    import sys

    from .._lazy_module import LazyModule

    sys.modules[__name__] = LazyModule(__name__, globals()["__file__"], _import_structure, module_spec=__spec__)
