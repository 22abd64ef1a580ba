#!/usr/bin/env python3
"""Writes corpus.jsonl: agent-like prompts for `tern bench-compress`.

Each line: {"id", "kind", "instruction"?, "context": [segments], "question"?,
"facts": [strings that must survive compression], "messages"? (chats)}.
Kinds: passages (retrieved documents), tool_json (tool outputs), chat (long
agent conversations), few_shot (demonstrations). The text is written for
this benchmark (deterministic; no external data). Run from this folder:
    python3 make_corpus.py > corpus.jsonl
"""
import json
import random

rng = random.Random(9)

SERVICES = ["billing_api", "authGateway", "search-indexer", "ledger_sync", "notifyWorker", "geo_lookup"]
REGIONS = ["eu-west-1", "us-east-2", "ap-south-1"]
FILLER = [
    "The team reviewed the results in the weekly meeting and agreed that the approach was sound overall.",
    "As is usual for this kind of change, the rollout happened in stages and was watched closely by the operators on call.",
    "Several people pointed out that the documentation could be clearer, and a follow-up task was opened to improve it.",
    "In general, the feedback from users has been positive, although a few of them asked for more detailed reports.",
    "It is worth noting that the previous quarter had similar numbers, so the trend appears to be fairly stable.",
    "Most of the remaining work is routine maintenance that does not need a separate design discussion.",
    "The engineers also spent some time cleaning up older scripts that nobody had used for a long while.",
    "There were no major surprises, and the schedule that was agreed at the start of the month still holds.",
]


def passage(i):
    svc = rng.choice(SERVICES)
    lat = rng.randint(12, 480)
    pct = rng.randint(2, 60)
    day = f"2025-0{rng.randint(1, 9)}-{rng.randint(10, 28)}"
    ver = f"v{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    url = f"https://wiki.example.com/runbooks/{svc.lower().replace('_', '-')}"
    facts = [svc, f"{lat} ms", f"{pct}%", day, ver, url]
    body = [
        f"Report {i}: on {day} the service {svc} was upgraded to {ver}.",
        rng.choice(FILLER),
        f"After the upgrade the median latency settled at {lat} ms and the error rate fell by {pct}% in {rng.choice(REGIONS)}.",
        rng.choice(FILLER),
        f"The runbook for incidents is kept at {url} and should be read before paging anyone.",
        rng.choice(FILLER),
        rng.choice(FILLER),
    ]
    return " ".join(body), facts


def passages_prompt(n, pid):
    ctx, facts = [], []
    for i in range(n):
        t, f = passage(i + 1)
        ctx.append(t)
        facts += f
    return {
        "id": pid, "kind": "passages",
        "instruction": "Answer the question using only the reports below. Quote numbers exactly.",
        "context": ctx,
        "question": "Which service had the largest drop in error rate, and what is its runbook URL?",
        "facts": facts,
    }


def tool_json_prompt(pid, rows):
    orders = []
    for i in range(rows):
        orders.append({
            "order_id": f"ORD-{10000 + i * 7}",
            "customer": rng.choice(["Acme GmbH", "Blue Fin Ltd", "Casa Verde", "Delta Labs", "Eko Foods"]),
            "status": rng.choice(["shipped", "pending", "cancelled", "delivered"]),
            "total_eur": round(rng.uniform(10, 900), 2),
            "items": rng.randint(1, 12),
        })
    data = {"orders": orders, "page": 1, "has_more": False}
    facts = [o["order_id"] for o in orders[:5]] + [str(orders[0]["total_eur"])]
    return {
        "id": pid, "kind": "tool_json",
        "instruction": "You are an order-support agent. Use the tool output to answer.",
        "context": [json.dumps(data, indent=2)],
        "question": "Which pending orders are above 500 EUR?",
        "facts": facts,
    }


def chat_prompt(pid, turns):
    msgs = [{"role": "system", "content": "You are a coding agent working in the repository acme/shop. Use tools to inspect files."}]
    facts = []
    for t in range(turns):
        fname = f"src/{rng.choice(['cart', 'checkout', 'payment', 'search', 'user'])}_{t}.py"
        line = rng.randint(10, 400)
        facts.append(fname)
        msgs.append({"role": "user", "content": f"Step {t}: please look at {fname} and tell me whether the bug near line {line} is still there. {rng.choice(FILLER)}"})
        msgs.append({"role": "assistant", "content": f"I will open {fname} and read around line {line}."})
        listing = "\n".join(f"{k:4d}    " + rng.choice(["total = sum(item.price for item in items)", "if user is None:", "    raise ValueError('missing user')", "return round(total * (1 - discount), 2)", "logger.info('cart %s updated', cart_id)", "for item in items:", "    item.validate()"]) for k in range(line - 12, line + 12))
        msgs.append({"role": "tool", "content": listing})
        msgs.append({"role": "assistant", "content": f"In {fname} the code around line {line} validates each item before summing; the bug is fixed there. {rng.choice(FILLER)}"})
    msgs.append({"role": "user", "content": "Summarise which files still have open problems."})
    context = [f"{m['role']}: {m['content']}" for m in msgs[1:-1]]
    return {
        "id": pid, "kind": "chat",
        "instruction": msgs[0]["content"],
        "context": context,
        "question": msgs[-1]["content"],
        "facts": facts,
        "messages": msgs,
    }


def few_shot_prompt(pid, n):
    demos, facts = [], []
    for i in range(n):
        a, b = rng.randint(12, 99), rng.randint(3, 40)
        item = rng.choice(["apples", "pencils", "tickets", "boxes", "cups"])
        name = rng.choice(["Mia", "Omar", "Lena", "Kofi", "Ravi"])
        demos.append(
            f"Question: {name} has {a} {item} and gives away {b} of them to friends at school. "
            f"How many {item} does {name} have left?\n"
            f"Answer: {name} started with {a} {item}. After giving away {b}, {name} has {a} - {b} = {a - b} {item} left. "
            f"The answer is {a - b}.")
        facts.append(f"{a} - {b} = {a - b}")
    return {
        "id": pid, "kind": "few_shot",
        "instruction": "Solve the math word problem. Think step by step, then give the answer.",
        "context": demos,
        "question": "Question: Sara has 75 stickers and gives away 28 of them. How many stickers does Sara have left?",
        "facts": facts,
    }


def main():
    items = [
        passages_prompt(6, "passages-6"),
        passages_prompt(12, "passages-12"),
        tool_json_prompt("orders-20", 20),
        tool_json_prompt("orders-60", 60),
        chat_prompt("chat-8", 8),
        chat_prompt("chat-16", 16),
        few_shot_prompt("few-shot-8", 8),
        few_shot_prompt("few-shot-16", 16),
    ]
    for it in items:
        print(json.dumps(it, ensure_ascii=False))


if __name__ == "__main__":
    main()
