"""Scripted "models" for the loopback OpenAI server: they answer the generate, judge and
paraphrase prompts the way a well-behaved LLM would, deterministically, from the section
text the prompt carries. Tests wrap them to inject faults."""
from __future__ import annotations

import json
import re
from typing import Any


def task_of(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    if system.startswith("You write training data"):
        return "generate"
    if system.startswith("You review"):
        return "judge"
    if system.startswith("You rewrite"):
        return "paraphrase"
    return "chat"


def between(text: str, start: str, end: str) -> str:
    match = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.DOTALL)
    return match.group(1) if match else ""


def user_text(body: dict[str, Any]) -> str:
    return body["messages"][1]["content"]


def draft_from_section(section: str) -> dict[str, Any]:
    """Steps from the section's list lines, else from its sentences; usable when >= 2."""
    heading, _, rest = section.partition("\n\n")
    items = [re.sub(r"^(\d+\.|-)\s+", "", line).strip() for line in rest.splitlines()
             if re.match(r"^(\d+\.|-)\s+", line)]
    if len(items) < 2:
        items = [s.strip() for s in re.split(r"(?<=[.!?])\s+", rest.replace("\n", " "))
                 if len(s.split()) >= 3 and not s.startswith("Note:")]
    if len(items) < 2:
        return {"usable": False, "question": "", "kind": "", "intro": "", "steps": []}
    task = heading.strip().rstrip(".").lower()
    return {"usable": True, "question": f"How do I {task}?", "kind": "steps",
            "intro": f"To {task}, follow these steps:", "steps": items[:10]}


def docs_model(body: dict[str, Any]) -> str:
    task = task_of(body)
    text = user_text(body)
    if task == "generate":
        return json.dumps(draft_from_section(between(text, "<<<SECTION", "SECTION>>>")))
    if task == "judge":
        return json.dumps({"score": 5, "reason": "Every step is in the section."})
    if task == "paraphrase":
        n = int(re.search(r"write (\d+) different", body["messages"][0]["content"]).group(1))
        question = re.search(r"^Question: (.*)$", text, re.MULTILINE).group(1)
        task_words = question.removeprefix("How do I ").rstrip("?")
        variants = [f"What is the way to {task_words}?", f"{task_words} - how does that work?",
                    f"Can you tell me how to {task_words}?", f"Steps to {task_words}?"]
        return json.dumps({"questions": variants[:n]})
    return "Hello."


def pattern_answerer(body: dict[str, Any]) -> str:
    """A well-behaved model under evaluation: answers the eval prompt in the list pattern.

    "How do I X?" gets steps to X; any other question the possible solutions.
    """
    prompt = body["messages"][-1]["content"]
    question = re.search(r"^Question: (.*)$", prompt, re.MULTILINE).group(1).strip()
    match = re.match(r"How do I (.*?)\??$", question)
    if match:
        task = match.group(1)
        return (f"To {task}, follow these steps:\n1. Open the dashboard of your site.\n"
                f"2. Find the screen where you {task}.\n3. Confirm the change when asked.")
    return ("Here are the possible solutions to the problem:\n1. Clear your browser cache and "
            "reload the page.\n2. Deactivate the plugin and activate it again.")


def eval_judge(body: dict[str, Any]) -> str:
    """The eval judge: 5 when the candidate is a numbered list, else 1; one reason each."""
    text = body["messages"][-1]["content"]
    candidate = between(text, "<<<CANDIDATE", "CANDIDATE>>>")
    if re.search(r"^1\. ", candidate, re.MULTILINE):
        return json.dumps({"score": 5, "reason": "Same steps as the reference."})
    return json.dumps({"score": 1, "reason": "No steps <script>at all</script>."})
