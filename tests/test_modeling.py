"""Student initialisation copies exactly the intended tensors; the teacher stays frozen."""
import os
import shutil

import numpy as np
import paddle
import pytest

import modeling
from errors import InputError
from kd_loss import stack_cls
from model_folders import safe_weights


def test_student_copies_embeddings_bottom_layers_and_pooler_only(tiny_bert):
    source = modeling.load_pretrained(tiny_bert)
    config = modeling.student_config(source.config, 2, num_classes=3)
    student = modeling.build_student(config, source)
    src = {k: v.numpy() for k, v in source.state_dict().items()}
    copied = 0
    for name, value in student.bert.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), src[name], err_msg=name)
        copied += 1
    assert copied == len([k for k in src if not k.startswith("encoder.layers.") or int(k.split(".")[2]) < 2])
    assert len(student.bert.encoder.layers) == 2
    assert student.classifier.weight.shape == [32, 3]


def test_student_classifier_is_fresh_not_the_teachers(teacher_dir):
    teacher = modeling.load_teacher(teacher_dir, num_classes=2)
    config = modeling.student_config(teacher.bert.config, 2, num_classes=2)
    student = modeling.build_student(config, teacher.bert)
    assert not np.allclose(student.classifier.weight.numpy(), teacher.classifier.weight.numpy())
    np.testing.assert_array_equal(student.bert.encoder.layers[1].linear1.weight.numpy(),
                                  teacher.bert.encoder.layers[1].linear1.weight.numpy())


def test_student_keeps_teacher_architecture(tiny_bert):
    source = modeling.load_pretrained(tiny_bert)
    config = modeling.student_config(source.config, 3, num_classes=2)
    for key in modeling.ARCHITECTURE_KEYS:
        assert getattr(config, key) == getattr(source.config, key)
    assert config.num_hidden_layers == 3
    with pytest.raises(InputError, match="deeper"):
        modeling.student_config(source.config, 5, num_classes=2)


def test_teacher_is_frozen_and_gets_no_gradient(teacher_dir):
    teacher = modeling.load_teacher(teacher_dir, num_classes=2)
    assert not teacher.training
    student = modeling.build_student(modeling.student_config(teacher.bert.config, 2, 2), teacher.bert)
    ids = paddle.to_tensor([[2, 10, 11, 12, 3], [2, 13, 14, 3, 0]])
    batch = {"input_ids": ids, "token_type_ids": paddle.zeros_like(ids), "attention_mask": (ids != 0).astype("int64")}
    t_logits, t_cls = modeling.teacher_forward(teacher, batch, [1, 3])
    assert t_cls.shape == [2, 2, 32]
    out = student(**batch, output_hidden_states=True, return_dict=True)
    loss = ((out.logits - t_logits) ** 2).mean() + ((stack_cls(out.hidden_states, [1, 2]) - t_cls) ** 2).mean()
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.bert.encoder.layers[0].linear1.weight.grad is not None


def test_teacher_with_wrong_class_count_is_reported(teacher_dir):
    with pytest.raises(InputError, match="teacher has 2 classes, the task has 3"):
        modeling.load_teacher(teacher_dir, num_classes=3)


def test_a_pretrained_encoder_is_no_teacher(tiny_bert):
    with pytest.raises(InputError, match="no classifier.weight in the weights: a pre-trained encoder, not a "
                                         "fine-tuned BertForSequenceClassification"):
        modeling.load_teacher(tiny_bert, num_classes=2)


def test_a_checkpoint_with_another_head_is_no_classifier(tiny_bert, tmp_path):
    """A pre-training checkpoint (bert.* and an MLM head) has a head, but not the classifier's."""
    folder = tmp_path / "mlm"
    shutil.copytree(tiny_bert, folder)
    state = {f"bert.{k}": v for k, v in safe_weights.read_weights(safe_weights.weights_file(str(folder))).items()}
    state["cls.predictions.bias"] = np.zeros(4, dtype="float32")
    for name in os.listdir(folder):
        if name in safe_weights.MODEL_WEIGHT_FILES:
            os.remove(folder / name)
    safe_weights.write_safetensors(state, str(folder / safe_weights.SAFETENSORS))
    with pytest.raises(InputError, match="hold cls.predictions.bias but no classifier.weight: not a fine-tuned "
                                         "BertForSequenceClassification"):
        modeling.load_classifier(str(folder), "x")


def test_model_folder_missing_files_is_reported(tmp_path, tiny_bert):
    with pytest.raises(InputError, match="no such folder"):
        modeling.load_pretrained(str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        modeling.load_pretrained(str(tmp_path / "empty"))
    (tmp_path / "empty" / "config.json").write_text(open(f"{tiny_bert}/config.json").read())
    with pytest.raises(InputError, match="no model weights"):
        modeling.load_pretrained(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="no vocab.txt"):
        modeling.load_tokenizer(str(tmp_path / "empty"), "--model_name_or_path")
