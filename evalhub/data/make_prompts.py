"""Write ``customer_service_prompts.jsonl``: the bundled customer-service prompt set.

Written for evalhub (no outside data): the customers, shop and orders are invented. Each scenario
has a few ways a customer might ask, filled with products, order numbers and dates, plus two
reference answers: a curt ``baseline_answer`` (facts only) and a warm ``better_answer`` (apology
or empathy, a concrete next step, a closing). The demo models learn the first style for the base
and the second for the LoRA adapter.

    python -m evalhub.data.make_prompts        # rewrites the file next to this script

Deterministic: the same seed writes the same file.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).with_name("customer_service_prompts.jsonl")
SEED = 20261101
PER_SCENARIO = 13

SHOP = "Brightleaf Home"
SYSTEMS = [
    f"You are a customer-service agent for {SHOP}, an online shop for home goods. "
    "Answer the customer directly and accurately.",
    f"You answer support emails for {SHOP}. Keep replies short and correct.",
    "You are a helpful support assistant for an online store.",
]
REPLY_INSTRUCTIONS = [
    "Write a reply to this customer message.",
    "Reply to the customer below.",
    "Draft the support team's answer to this message.",
    "Respond to the following customer email.",
]
PRODUCTS = [
    "wireless headphones",
    "coffee grinder",
    "wool blanket",
    "desk lamp",
    "running shoes",
    "travel backpack",
    "smart thermostat",
    "ceramic teapot",
    "yoga mat",
    "phone case",
    "electric kettle",
    "linen curtains",
    "air purifier",
    "cast iron pan",
    "bluetooth speaker",
    "office chair",
]
ELECTRIC = [
    "wireless headphones",
    "coffee grinder",
    "desk lamp",
    "smart thermostat",
    "electric kettle",
    "air purifier",
    "bluetooth speaker",
]
NAMES = ["Maya", "Tom", "Priya", "Jonas", "Aiko", "Carlos", "Fatima", "Liam", "Sofia", "Owen"]
DATES = ["3 March", "12 April", "28 May", "9 June", "17 July", "2 August", "21 September"]
CARRIERS = ["ParcelPost", "SwiftShip", "CityCourier"]
CITIES = ["Leeds", "Lyon", "Porto", "Dublin", "Graz", "Utrecht"]
OPENINGS_SORRY = ["I'm so sorry", "I'm really sorry", "I'm sorry"]
OPENINGS_THANKS = ["Thank you for reaching out", "Thanks so much for getting in touch"]
CLOSINGS = [
    "Is there anything else I can help you with?",
    "Thank you for your patience, and have a lovely day!",
    "Please reply here if anything is unclear; I'm happy to help.",
    "Thanks for bearing with us!",
]


@dataclass(frozen=True)
class Scenario:
    labels: tuple[str, ...]
    asks: tuple[str, ...]
    baseline: str
    better: str
    products: tuple[str, ...] = tuple(PRODUCTS)


SCENARIOS = [
    # refund
    Scenario(
        ("refund",),
        (
            "I returned my {product} two weeks ago and still have no refund. Order {order}.",
            "Where is my refund for order {order}? You got the {product} back ages ago.",
            "Hi, I sent back the {product} on {date} but the money hasn't come back yet.",
        ),
        "Refund for order {order} was issued on {date}. Allow 5-7 business days.",
        "{sorry} you're still waiting for your refund. I checked order {order}: we received "
        "the {product} and issued a refund of {amount} on {date}. Banks usually take 5-7 "
        "business days to show it, so if it hasn't arrived by next week, reply here and I will "
        "chase it with our payments team. {closing}",
    ),
    Scenario(
        ("refund",),
        (
            "How do I return the {product} and get my money back?",
            "I don't want the {product} anymore. Can I get a refund?",
            "The {product} isn't what I expected. What's your refund policy?",
        ),
        "Returns are accepted within 30 days. Use the return form in your account.",
        "{thanks}, and I'm sorry the {product} didn't work out. You can return it within "
        "30 days: open order {order} in your account, choose 'Return item' and print the free "
        "label. Your refund of {amount} is sent as soon as the parcel reaches us. {closing}",
    ),
    Scenario(
        ("refund", "product"),
        (
            "My {product} arrived broken. I want a refund.",
            "The {product} from order {order} was damaged in the box. Refund please.",
            "Opened the {product} today and it's cracked. Can I have my money back?",
        ),
        "Send a photo of the damage. A refund will follow.",
        "{sorry} your {product} arrived damaged; that's not the experience we want for you. "
        "Please reply with a photo of the damage and I'll refund {amount} to your card straight "
        "away. There's no need to send the item back. {closing}",
    ),
    Scenario(
        ("refund", "billing"),
        (
            "You refunded me {small} but I paid {amount} for the {product}.",
            "The refund for order {order} is less than what I paid. Why?",
            "Only part of my money came back for the {product}. Can you check?",
        ),
        "Shipping costs are not refunded. The amount is correct.",
        "{sorry} about the confusion with your refund. I looked at order {order}: the "
        "difference is the original shipping fee, which our policy normally keeps. Since the "
        "{product} was faulty, I've refunded the remaining amount as well; it will reach you "
        "within 5 business days. {closing}",
    ),
    # shipping
    Scenario(
        ("shipping",),
        (
            "Where is my order {order}? It's been a week.",
            "My {product} still hasn't arrived. Can you tell me where it is?",
            "When will order {order} be delivered?",
            "I ordered a {product} on {date}. Any news on delivery?",
        ),
        "Order {order} shipped with {carrier}. Check the tracking link.",
        "{thanks}, and I'm sorry for the wait. Your {product} (order {order}) left our "
        "warehouse with {carrier} and is due to arrive in 2-3 business days. I've emailed you "
        "the tracking link so you can follow it. {closing}",
    ),
    Scenario(
        ("shipping",),
        (
            "The tracking for order {order} hasn't changed in five days.",
            "{carrier} tracking says 'in transit' since {date}. Is my parcel lost?",
            "My tracking number doesn't work. Order {order}.",
        ),
        "Tracking updates can be delayed. Wait a few more days.",
        "{sorry} the tracking has stalled; I know how worrying that is. I've opened an "
        "investigation with {carrier} for order {order}. If they can't locate the parcel within "
        "48 hours, I'll send a replacement {product} at no cost. {closing}",
    ),
    Scenario(
        ("shipping", "complaint"),
        (
            "Tracking says delivered but there's no parcel. Order {order}.",
            "My {product} was delivered to the wrong address!",
            "The courier left my parcel with someone I don't know in {city}.",
        ),
        "Check with your neighbours. Contact us if it is not found.",
        "{sorry} your parcel didn't reach you. I've asked {carrier} for the delivery photo and "
        "GPS location for order {order}. If it isn't found within 2 business days, I'll send a "
        "new {product} by express shipping at no charge. {closing}",
    ),
    Scenario(
        ("shipping",),
        (
            "I need to change the delivery address for order {order}.",
            "I moved to {city}. Can you send my {product} to the new address?",
            "Can I update the shipping address on my order? It hasn't shipped yet.",
        ),
        "Address changes are possible before dispatch. Send the new address.",
        "{thanks}! Order {order} hasn't left the warehouse yet, so I can still change the "
        "address. Please reply with the full new address in {city} and I'll update it right "
        "away and confirm by email. {closing}",
    ),
    Scenario(
        ("shipping",),
        (
            "How much is express shipping and how fast is it?",
            "Do you ship to {city}? How long does it take?",
            "I need the {product} by Friday. What are my shipping options?",
        ),
        "Express shipping costs 9.90 and takes 1-2 business days.",
        "{thanks}! Yes, we deliver to {city}. Standard shipping is free and takes 3-5 business "
        "days; express costs 9.90 and arrives in 1-2 business days. If you order the {product} "
        "before 2 pm, express will reach you by Friday. {closing}",
    ),
    # account
    Scenario(
        ("account",),
        (
            "I forgot my password and the reset email never arrives.",
            "I can't log in. The password reset link isn't coming to {email}.",
            "Password reset isn't working for my account.",
        ),
        "Check your spam folder. The reset link expires after one hour.",
        "{sorry} you're locked out; that's frustrating. I've sent a fresh reset link to "
        "{email}. It can take a few minutes and sometimes lands in spam. The link works for one "
        "hour, and if it still doesn't arrive, reply here and I'll reset it for you. {closing}",
    ),
    Scenario(
        ("account",),
        (
            "How do I change the email address on my account?",
            "I want to use {email} for my account instead of my old email.",
            "Please update my account email to {email}.",
        ),
        "Go to Settings > Account to change your email.",
        "{thanks}! You can change it under Settings > Account > Email. I've also sent a "
        "confirmation link to {email}; once you click it, all order updates will go to the new "
        "address. {closing}",
    ),
    Scenario(
        ("account",),
        (
            "Please delete my account and all my data.",
            "I want to close my {shop} account.",
            "How can I remove my account permanently?",
        ),
        "Account deletion requests take 30 days. Confirm by email.",
        "{sorry} to see you go, and thank you for shopping with us. I've started the deletion "
        "of your account; you'll get a confirmation email at {email} and your data will be "
        "erased within 30 days. If you change your mind before then, just reply. {closing}",
    ),
    Scenario(
        ("account",),
        (
            "My account is locked after too many login attempts.",
            "It says my account is blocked. What do I do?",
            "I can't sign in, it says 'account locked'.",
        ),
        "Accounts unlock automatically after 30 minutes.",
        "{sorry} for the trouble signing in. For your security the account locks after five "
        "failed attempts and unlocks by itself after 30 minutes. I've unlocked it now, so you "
        "can sign in straight away or use 'Forgot password' if needed. {closing}",
    ),
    # complaint
    Scenario(
        ("complaint",),
        (
            "The person I spoke to on the phone yesterday was really rude.",
            "Your agent hung up on me when I asked about order {order}.",
            "I'm unhappy with how I was treated by your support team.",
        ),
        "Your feedback has been noted.",
        "{sorry} about how that call went; you deserved patience and respect. I've shared your "
        "feedback with the team lead, and I'm handling order {order} personally now. Tell me "
        "what's still open and I'll sort it today. {closing}",
    ),
    Scenario(
        ("complaint", "shipping"),
        (
            "This is the second time my delivery is late. Very disappointed.",
            "Order {order} is late again. I'm fed up.",
            "Every order from you arrives late. Why should I keep shopping here?",
        ),
        "Delays are caused by the carrier. Your order is on its way.",
        "I completely understand your frustration, and I'm sorry we let you down twice. Order "
        "{order} is now with {carrier} for delivery tomorrow, and I've refunded your shipping "
        "fee of 4.90. I've also flagged your address for priority dispatch next time. {closing}",
    ),
    Scenario(
        ("complaint", "product"),
        (
            "The {product} stopped working after three days. Terrible quality.",
            "I'm very disappointed with the {product}. It's already falling apart.",
            "Your {product} is a waste of money.",
        ),
        "The item is covered by warranty. Submit a warranty claim.",
        "{sorry} the {product} let you down so quickly. That's not the quality we promise. "
        "I've arranged a free replacement for order {order}, and a prepaid return label is on "
        "its way to {email} for the faulty one. {closing}",
    ),
    # billing
    Scenario(
        ("billing",),
        (
            "I was charged twice for order {order}.",
            "My card shows two payments of {amount} for the {product}.",
            "Why did you take the money twice?",
        ),
        "Duplicate charges are authorisations and drop off in 3 days.",
        "{sorry} for the worry about the double charge. I checked order {order}: the second "
        "payment of {amount} was a duplicate, and I've refunded it today. It will disappear "
        "from your statement within 3-5 business days. {closing}",
    ),
    Scenario(
        ("billing",),
        (
            "Can I get an invoice for order {order}?",
            "I need a VAT invoice for the {product} for my company.",
            "Please send me a receipt for my last order.",
        ),
        "Invoices are available in your account under Orders.",
        "{thanks}! I've emailed the invoice for order {order} to {email}. You can also "
        "download it any time from Orders in your account. If you need your company name or VAT "
        "number on it, send me the details and I'll reissue it. {closing}",
    ),
    Scenario(
        ("billing",),
        (
            "My card keeps getting declined at checkout.",
            "Payment failed three times for the {product}. My card is fine.",
            "Why won't your site accept my card?",
        ),
        "Contact your bank. We accept Visa, Mastercard and PayPal.",
        "{sorry} checkout is giving you trouble. Declines often come from the bank's security "
        "check on online payments, so it's worth approving the payment in your banking app. "
        "PayPal works too, and I've saved your basket with the {product} so nothing is lost. "
        "{closing}",
    ),
    Scenario(
        ("billing", "account"),
        (
            "I was charged {amount} for a membership I never signed up for.",
            "What is this monthly charge from {shop}? I didn't agree to it.",
            "Please cancel the subscription on my account and refund me.",
        ),
        "The membership was activated at checkout. Cancel it in Settings.",
        "{sorry} about the unexpected charge. I can see the membership was switched on during "
        "checkout for order {order}. I've cancelled it and refunded {amount}; you'll see the "
        "money back within 5 business days and won't be charged again. {closing}",
    ),
    # product
    Scenario(
        ("product",),
        (
            "Is the {product} compatible with my phone?",
            "Does the {product} work with 110 V power?",
            "What are the dimensions of the {product}?",
        ),
        "See the product page for specifications.",
        "{thanks}! I've sent the full specification sheet for the {product} to {email}; it "
        "covers power (110-230 V), size and compatibility. If you tell me your phone model, "
        "I'll confirm it works with it before you order. {closing}",
        tuple(ELECTRIC),
    ),
    Scenario(
        ("product",),
        (
            "My {product} won't turn on.",
            "My {product} keeps switching itself off.",
            "The {product} makes a strange noise. Is that normal?",
        ),
        "Reset the device and check the manual.",
        "{sorry} the {product} is giving you trouble. Please hold the power button for 10 "
        "seconds to reset it, then leave it plugged in for an hour. If it still won't work, "
        "reply with order {order} and I'll send a replacement. {closing}",
        tuple(ELECTRIC),
    ),
    Scenario(
        ("product",),
        (
            "What warranty does the {product} have?",
            "Is the {product} still under warranty? I bought it on {date}.",
            "How do I make a warranty claim for my {product}?",
        ),
        "All products have a two-year warranty.",
        "{thanks}! Your {product} has a two-year warranty from {date}, so it's fully covered. "
        "To claim, reply with a short description of the fault and order {order}, and I'll "
        "arrange a repair or replacement at no cost. {closing}",
    ),
    Scenario(
        ("product",),
        (
            "When will the {product} be back in stock?",
            "Is the {product} available in blue?",
            "The {product} is sold out. Can I reserve one?",
        ),
        "The item will be restocked soon.",
        "{thanks}, and I'm sorry the {product} is sold out right now. New stock arrives on "
        "{date}, in blue as well. I've added {email} to the restock list, so you'll get an "
        "email the moment it's back. {closing}",
    ),
]


def prompt_rows(seed: int = SEED) -> list[dict[str, object]]:
    """All prompt rows, deterministic in ``seed``; instruction + input are unique."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for scenario in SCENARIOS:
        made = 0
        while made < PER_SCENARIO:
            name = rng.choice(NAMES)
            price = rng.randrange(19, 240)
            slots = {
                "product": rng.choice(scenario.products),
                "order": f"#{rng.randrange(10000, 99999)}",
                "date": rng.choice(DATES),
                "amount": f"{price}.{rng.choice(['00', '50', '99'])}",
                "small": f"{price // 2}.00",
                "carrier": rng.choice(CARRIERS),
                "city": rng.choice(CITIES),
                "email": f"{name.lower()}@example.com",
                "shop": SHOP,
                "sorry": rng.choice(OPENINGS_SORRY),
                "thanks": rng.choice(OPENINGS_THANKS),
                "closing": rng.choice(CLOSINGS),
            }
            message = rng.choice(scenario.asks).format(**slots)
            style = rng.random()
            if style < 0.45:  # the customer's message is the instruction itself
                instruction, input_ = message, ""
            else:  # Alpaca style: a task, with the customer's message as input
                instruction = rng.choice(REPLY_INSTRUCTIONS)
                input_ = f"Customer ({name}): {message}"
            if (instruction, input_) in seen:
                continue
            seen.add((instruction, input_))
            made += 1
            row: dict[str, object] = {
                "external_id": f"cs-{len(rows) + 1:04d}",
                "instruction": instruction,
            }
            if input_:
                row["input"] = input_
            if rng.random() < 0.4:
                row["system"] = rng.choice(SYSTEMS)
            row["labels"] = list(scenario.labels)
            row["baseline_answer"] = scenario.baseline.format(**slots)
            row["better_answer"] = scenario.better.format(**slots)
            rows.append(row)
    return rows


def main() -> None:
    rows = prompt_rows()
    with OUT.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prompts to {OUT}")


if __name__ == "__main__":
    main()
