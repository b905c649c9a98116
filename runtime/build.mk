# runtime: libplait and plait-run. Build rules.

include runtime/train/build.mk
