"""Everything that touches torch: loading, prompt formats, forward passes, answers, sessions."""
