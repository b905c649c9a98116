# plugin: build rules (see the top-level Makefile for the variables to fill in).
