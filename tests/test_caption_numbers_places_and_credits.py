"""Caption identifiers once kept: Safe Harbor's plan, account, licence and device
numbers, a radiology request's "92/F", a home town after "lives in", a Canadian postal code, and names
after a credit, before a credential or after a role label. Read back as plain text with a regex of its own
over several seeds; words around them that name no one stay."""

from __future__ import annotations

import pytest

from support.captions import assert_fuzzed_to, assert_gone_and_kept

# (caption, what must be gone, what must stay)
LEAKS = [
    ("Medicare no 1EG4-TE5-MK73, rash on the arm.", r"MK73|1EG4", "rash on the arm"),
    ("Policy number AB1234567; rash on the arm.", r"1234567", "rash on the arm"),
    ("Passport number X1234567, rash on the arm.", r"1234567", "rash on the arm"),
    ("Driver's licence D1234567, rash on the arm.", r"1234567", "rash on the arm"),
    ("Insurance no. W123456789, rash on the arm.", r"123456789", "rash on the arm"),
    ("Pacemaker serial no. AB12345, rash on the arm.", r"12345", "rash on the arm"),
    ("Health card 1234-567-890-AB, rash on the arm.", r"890", "rash on the arm"),
    ("92/F with a rash on the arm.", r"\b92\b", "with a rash on the arm"),
    ("F/45 with a rash on the arm.", r"\b45\b", "with a rash on the arm"),
    ("Lives in Springfield with her husband.", r"Springfield", "with her husband"),
    ("Lives in Tromsø, Norway, rash on the arm.", r"Tromsø", "Lives in Norway"),
    ("Lives in Toronto, M5V 3L9, rash on the arm.", r"M5V|3L9|Toronto", "rash on the arm"),
    ("Photo courtesy of Jane Quixotez.", r"Quixotez|Jane", "Photo courtesy of a colleague"),
    # a given name that is also a unit's acronym as written upper-case ("ED") is still a given name
    ("Reviewed by Ed Quixotez MD on the ward.", r"Quixotez|\bEd\b", "on the ward"),
    ("Thanks to Jane Quixotez for the photo.", r"Quixotez|Jane", "for the photo"),
    ("Image credit: J. Quixotez", r"Quixotez", "Image credit"),
    ("Reported by Jane Quixotez, MD.", r"Quixotez|Jane", "Reported by a colleague"),
    ("Jane Quixotez MD reviewed the slides.", r"Quixotez|Jane", "reviewed the slides"),
    ("Signed, Jane Quixotez RN", r"Quixotez|Jane", "Signed"),
    ("Mother: Jane Quixotez. Rash on the arm.", r"Quixotez|Jane", "Rash on the arm"),
    ("Consultant: Quixotez. Rash on the arm.", r"Quixotez", "Consultant: [removed]"),
    ("The patient's name is Jane Quixotez.", r"Quixotez|Jane", "name is [removed]"),
    # a day and month without a year after a birth, a care verb or an admission label
    ("DOB: 12/03, rash on the arm.", r"12/03", "rash on the arm"),
    ("Admitted 17/03 with a rash on the arm.", r"17/03", "Admitted recently with a rash"),
    ("Seen 3/17 with a rash on the arm.", r"3/17", "Seen recently with a rash"),
    ("Admitted on 17.03. with a rash on the arm.", r"17\.03", "Admitted recently with a rash"),
    ("Day of admission: 17.03. Rash on the arm.", r"17\.03", "Rash on the arm"),
    # an age over 89 as a birthday, a month after "last", pathology numbers, a home, a trip, a family
    ("She celebrated her 95th birthday with a rash.", r"95", "aged 90 or older"),
    ("Rash since last March on the arm.", r"March", "on the arm"),
    ("Case 2023-0457, rash on the arm.", r"0457", "rash on the arm"),
    ("Lab no. 23-12345, rash on the arm.", r"12345", "rash on the arm"),
    ("Path no 23/12345, rash on the arm.", r"12345", "rash on the arm"),
    ("Discharged to Meadowbrook Nursing Home with a rash.", r"Meadowbrook", "a nursing home"),
    ("Recently travelled to Orlando, rash on the arm.", r"Orlando", "rash on the arm"),
    ("The Quixotez family came in with a rash.", r"Quixotez", "The family came in"),
]


@pytest.mark.parametrize(("text", "gone", "kept"), LEAKS, ids=[t[:32] for t, _, _ in LEAKS])
def test_caption_identifier_goes(text: str, gone: str, kept: str):
    assert_gone_and_kept(text, gone, kept)


@pytest.mark.parametrize(
    "text",
    [
        "Serial 12-lead ECGs were normal.",
        "Serial troponins were flat.",
        "On account of 2 falls, she uses a frame.",
        "Stage T2N0M0 with a rash.",
        "Lives in Texas with her son.",
        "Born in Nigeria, rash on the arm.",
        "Lives in a care home.",
        "Courtesy of Radiology.",
        "Image courtesy of Dermatology Department.",
        "Thanks to the ICU team.",
        "Chest X-ray PA and lateral.",
        "Consultant: Dermatology.",
        "Diagnosis: Melanoma.",
        "Seen in MS clinic.",
        "Case of Stevens-Johnson syndrome.",
        "Dose 10 mg/M2.",
        "Seen 2/3 of the time.",
        "Admission: 7/10 pain.",
        "Pain score 7/10 on admission.",
        "Seen 17.03 mm wide.",
        "Case no. 12: a rash on the arm.",
        "The whole family came in.",
        "Recently travelled to Spain, rash on the arm.",
    ],
)
def test_words_around_the_new_rules_stay(text: str):
    assert_fuzzed_to(text)
