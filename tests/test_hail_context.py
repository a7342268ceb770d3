"""Starting Hail (udip_gwas/genetics/hail_context.py)."""

from __future__ import annotations

import pandas as pd
import pytest


def test_init_hail__spark_tasks_get_one_blas_thread_and_this_process_keeps_its_environment(hail_session):
    """The session fixture leaves hail.blas_threads at its default (1): the JVM that runs the local tasks sees
    OPENBLAS_NUM_THREADS=1 (or the value this process already had), and so would cluster executors; the
    variable is not left behind in this process for later child processes."""
    import os

    from udip_gwas.exceptions import ConfigError
    from udip_gwas.genetics.hail_context import init_hail

    jvm = hail_session.current_backend()._jvm
    assert jvm.java.lang.System.getenv("OPENBLAS_NUM_THREADS") == os.environ.get("OPENBLAS_NUM_THREADS", "1")
    assert hail_session.spark_context().getConf().get("spark.executorEnv.OPENBLAS_NUM_THREADS") == "1"
    with pytest.raises(ConfigError, match="blas_threads"):
        init_hail({"blas_threads": -1}, log_dir=".", seed=0)


def test_init_hail__local_files_without_checksum_side_files(hail_session, tmp_path):
    """Hail's local writes go through Hadoop's RawLocalFileSystem: no .crc files, and what is written reads back."""
    hl = hail_session
    assert hl.spark_context().getConf().get("spark.hadoop.fs.file.impl") == "org.apache.hadoop.fs.RawLocalFileSystem"
    ht = hl.utils.range_table(20, n_partitions=2)
    ht.write(str(tmp_path / "t.ht"))
    ht.export(str(tmp_path / "t.tsv.bgz"))
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".crc")]
    back = hl.read_table(str(tmp_path / "t.ht"))
    assert back.aggregate(hl.agg.collect(back.idx)) == list(range(20))
    assert pd.read_csv(tmp_path / "t.tsv.bgz", sep="\t", compression="gzip")["idx"].tolist() == list(range(20))
