"""Shared fixtures: a tiny BERT, a tiny synthetic task and a fine-tuned tiny teacher, made here."""
import atexit
import os
import shutil
import tempfile

from project_root import ROOT  # first: the project on sys.path, CPU settings before paddle

import pytest

from demo_assets import write_sst2_layout, write_tiny_bert

# Teacher caches of the tests go to a throwaway folder, never the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="pkd-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)

TINY = dict(num_layers=4, hidden_size=32, heads=2)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    return write_tiny_bert(str(tmp_path_factory.mktemp("bert")), **TINY)


@pytest.fixture(scope="session")
def sst2_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "SST-2")
    write_sst2_layout(path, num_train=320, num_dev=96, num_test=20, seed=1)
    return path


def classifier_of(folder, num_classes=2):
    """A classifier whose encoder is all of FOLDER's pre-trained one; its head starts at random."""
    import modeling

    source = modeling.load_pretrained(folder)
    config = modeling.student_config(source.config, source.config.num_hidden_layers, num_classes)
    return modeling.build_student(config, source)


def common_args(data_dir, model_dir, output_dir, *extra):
    return ["--task_name", "SST-2", "--data_dir", data_dir, "--model_name_or_path", model_dir,
            "--output_dir", output_dir, "--batch_size", "16", "--max_seq_length", "32",
            "--learning_rate", "2e-3", "--logging_steps", "5", "--save_steps", "10", "--device", "cpu",
            *extra]


@pytest.fixture(scope="session")
def teacher_dir(tiny_bert, sst2_dir, tmp_path_factory):
    import run_patient_kd

    out = str(tmp_path_factory.mktemp("teacher"))
    run_patient_kd.main(common_args(sst2_dir, tiny_bert, out, "--num_layers_of_student_model", "4",
                                    "--max_steps", "150"))
    return os.path.join(out, "best_model")
