# plait-train: the trainer (issue 5). Build rules for runtime/train/.
