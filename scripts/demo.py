"""The whole pipeline on CPU in a few minutes, with nothing downloaded.

Makes a synthetic sentiment task in the official SST-2 layout and a small randomly initialised
6-layer BERT ("pre-trained" model), fine-tunes it as the teacher, then trains 3-layer students
with FT, KD, PKD-skip and PKD-last, and prints the results table. Every run is an ordinary
run_patient_kd.py command line (printed), executed in this one process to save start-up time.

    python scripts/demo.py [--work_dir demo_output]
"""
import argparse
import json
import os
import shlex
import time

import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)

import run_patient_kd
from demo_assets import write_sst2_layout, write_tiny_bert

COMMON = ["--task_name", "SST-2", "--batch_size", "32", "--max_seq_length", "64",
          "--logging_steps", "100", "--save_steps", "100"]
NUM_TRAIN, NUM_DEV = 4000, 500
TEACHER_LR, STUDENT_LR = "1e-3", "2e-3"  # a deep model from random weights needs the gentler rate
STUDENTS = [  # (row label, run folder, mode flags)
    ("BERT3-FT", "ft", ["--alpha", "0", "--beta", "0"]),
    ("BERT3-KD", "kd", ["--alpha", "0.7", "--T", "5", "--beta", "0"]),
    ("BERT3-PKD-skip", "pkd_skip", ["--alpha", "0.7", "--T", "5", "--beta", "100", "--strategy", "skip"]),
    ("BERT3-PKD-last", "pkd_last", ["--alpha", "0.7", "--T", "5", "--beta", "100", "--strategy", "last"]),
]


def run(argv):
    print("$ python run_patient_kd.py " + " ".join(shlex.quote(a) for a in argv), flush=True)
    return run_patient_kd.main(argv)


def results_table(rows, task="SST-2"):
    lines = [f"| Model | {task}(dev acc) | best step | train s |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['best_metric']:.6f} | {r['best_step']} | {r['train_seconds']:.0f} |" for name, r in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default="demo_output")
    parser.add_argument("--teacher_steps", type=int, default=1500)
    parser.add_argument("--student_steps", type=int, default=400)
    args = parser.parse_args()
    start = time.time()
    data_dir = os.path.join(args.work_dir, "data", "SST-2")
    bert_dir = os.path.join(args.work_dir, "tiny-bert-6l")
    write_sst2_layout(data_dir, num_train=NUM_TRAIN, num_dev=NUM_DEV)
    write_tiny_bert(bert_dir, num_layers=6)

    teacher_dir = os.path.join(args.work_dir, "teacher")
    rows = [("BERT6(Teacher)", run(COMMON + [
        "--data_dir", data_dir, "--model_name_or_path", bert_dir, "--num_layers_of_student_model", "6",
        "--max_steps", str(args.teacher_steps), "--learning_rate", TEACHER_LR, "--output_dir", teacher_dir]))]
    for name, folder, flags in STUDENTS:
        rows.append((name, run(COMMON + flags + [
            "--data_dir", data_dir, "--model_name_or_path", bert_dir,
            "--teacher_finetuned_model_path", os.path.join(teacher_dir, "best_model"),
            "--num_layers_of_student_model", "3", "--max_steps", str(args.student_steps), "--learning_rate", STUDENT_LR,
            "--output_dir", os.path.join(args.work_dir, folder)])))

    table = results_table(rows)
    with open(os.path.join(args.work_dir, "results.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.work_dir, "results.json"), "w") as f:
        json.dump({name: r for name, r in rows}, f, indent=2)
    print(f"\nSynthetic SST-2-layout task, {NUM_TRAIN} train / {NUM_DEV} dev sentences (chance = 0.5):\n")
    print(table)
    print(f"\ndemo finished in {time.time() - start:.0f} s; runs in {args.work_dir}/")


if __name__ == "__main__":
    main()
