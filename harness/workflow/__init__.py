"""The workflows behind the library calls: plan a suite, train it, evaluate it, report its status."""
