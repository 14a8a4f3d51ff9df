"""wpqa: WordPress documentation to a list-format Q&A dataset, QLoRA, and pattern evaluation."""
