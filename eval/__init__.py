"""The eval stage: base and tuned models answer the test questions, scored by the pattern."""
