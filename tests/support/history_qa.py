"""Invented case captions (no real patients) as posted on social media, in teaching files and talks.

Each row plants identifiers that must be gone from every fuzzed output (``gone``, case-insensitive) and
clinical terms that must survive unchanged (``kept``, exact). ``verdict`` records what QA found before the
fixes and what is knowingly left (never asserted: it is a note for the next reader).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QACase:
    text: str
    gone: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    verdict: str = "ok"


def Q(text: str, gone: str = "", kept: str = "", verdict: str = "ok") -> QACase:
    """A row; ``gone`` and ``kept`` are ``|``-separated."""
    return QACase(text, tuple(filter(None, gone.split("|"))), tuple(filter(None, kept.split("|"))), verdict)


CASES = [
    Q("Yesterday I saw this in a 20-year-old woman from Leeds with a left thigh mass.",
      "Yesterday|Leeds|20-year", "thigh mass", "town leaked (fixed)"),
    Q("67M, ex-smoker, presented to St Mary's ED on 3/12/2024 with haemoptysis; MRN 0045 2231",
      "Mary|3/12|2024|0045|2231|67M", "ex-smoker|haemoptysis", "ED name and half the MRN leaked (fixed)"),
    Q("Dr. Okafor's patient (92 y/o) — biopsy of left cheek showed a basal cell carcinoma.",
      "Okafor|92", "basal cell carcinoma|biopsy"),
    Q("#dermpath #pathtwitter case from @jsmith_md: 45F with a Spitz nevus on the right forearm.",
      "jsmith|45F|45M", "#dermpath|#pathtwitter|Spitz nevus|forearm", "handle leaked (fixed)"),
    Q("Pt. J.K., born 1958, CT chest 12.03.24 showed a 2.1 cm spiculated nodule in the right upper lobe.",
      "J.K|K.,|1958|12.03", "2.1 cm|spiculated nodule|upper lobe", "initials half-removed, 'Pt.K.' (fixed)"),
    Q("A forty-two-year-old man with Hodgkin lymphoma; Reed-Sternberg cells CD30+ CD15+, CD20 negative.",
      "forty-two", "Hodgkin lymphoma|Reed-Sternberg|CD30+|CD15+|CD20 negative", "age in words kept (fixed)"),
    Q("Infant aged 6 months with a right scalp hemangioma, propranolol 1 mg/kg/day.",
      "aged 6 months", "hemangioma|propranolol 1 mg/kg/day", "months moved as years, by 3 (fixed)"),
    Q("G2P1 at 32 weeks, 28-year-old woman with a placental mass; H&E 40x.",
      "28-year", "G2P1|32 weeks|woman|placental mass|H&E 40x"),
    Q("A woman in her 40s with Crohn disease, terminal ileum resection, granulomas on H&E.",
      "him 40s", "40s|Crohn disease|granulomas|H&E", "'a man in him 40s' (fixed)"),
    Q("Seen last Tuesday: 55-year-old man with Paget disease of bone, alkaline phosphatase 450 U/L on "
      "04/05/2023.", "Tuesday|04/05|2023|55-year", "Paget disease of bone|450 U/L"),
    Q("On Christmas Eve a 71 yo F came to A&E with Kaposi sarcoma on her left foot.",
      "Christmas|71 yo", "Kaposi sarcoma|foot", "holiday kept as a date (fixed)"),
    Q("This morning at 08:30 a 38-year-old man with Merkel cell carcinoma of the right cheek, Ki-67 30%.",
      "morning|08:30|38-year", "Merkel cell carcinoma|Ki-67 30%|cheek"),
    Q("2 days ago, 61-year-old male, prostate biopsy Gleason 4+3=7, PSA 12.4 ng/mL.",
      "2 days ago|61-year", "male|prostate|Gleason 4+3=7|PSA 12.4 ng/mL"),
    Q("Call me on 07700 900123 or email dr.jones@nhs.net about this 50F with Langerhans cell histiocytosis.",
      "07700|900123|jones|nhs.net", "Langerhans cell histiocytosis"),
    Q("Slides at https://pathpresenter.com/case/12345 — 33M, testicular seminoma, OCT3/4 positive.",
      "pathpresenter|12345|33M", "testicular seminoma|OCT3/4 positive|M,", "URL leaked (fixed)"),
    Q("Specimen S24-01234, block A1-B2: 64-year-old woman, ovarian serous carcinoma, WT1+, p53 aberrant.",
      "S24-01234|01234|64-year", "woman|ovarian serous carcinoma|WT1+|p53 aberrant|A1-B2",
      "block label A1-B2 kept on purpose (not identifying)"),
    Q("Patient lives at 12 Baker Street, London NW1 6XE; 70M with a right renal mass 5.5 cm, pT2N1.",
      "Baker|NW1|6XE|70M", "renal mass 5.5 cm|pT2N1",
      "street and postcode leaked (fixed); the city (London) is left: no cue before it"),
    Q("Referred from Mayo Clinic: 48-year-old Amish woman, a blacksmith from Intercourse, Pennsylvania, "
      "with a nodule on her nose.", "Mayo|Intercourse|48-year", "Amish|blacksmith|Pennsylvania|nodule",
      "town leaked (fixed); state and ethnicity kept"),
    Q("Frau Müller, 67 Jahre, Biopsie vom linken Unterarm am 12.03.2024.", "Müller|12.03|2024", "Biopsie",
      "name leaked (fixed); German age and 'am recently' left (English only)"),
    Q("La paciente de 34 años, María García, con lesión en la mejilla derecha.", "", "lesión",
      "LEFT: name without an English cue, age in Spanish (English only, documented)"),
    Q("Mme Dupont, 58 ans, vue le 3 mars 2024 pour un mélanome de la jambe gauche.", "Dupont",
      "mélanome", "name leaked (fixed); LEFT: French day and month '3 mars' left (English only)"),
    Q("Hope, a 23-year-old woman, presented with a rash on her left arm.", "Hope|23-year", "rash",
      "a bare first name opening the sentence before an age leaked (fixed)"),
    Q("A 30-year-old man named Rich Bishop had a melanoma on his back, Breslow 1.2 mm.",
      "Rich|Bishop|30-year", "melanoma|Breslow 1.2 mm"),
    Q("May Rose, 44, came with a right breast lump, ER+ PR+ HER2-.", "May Rose|44,",
      "breast lump|ER+ PR+ HER2-", "a bare name before an age leaked (fixed); breast keeps the sex"),
    Q("Pt Rose Bishop (DOB 14/02/1950) with 3.2 cm left axillary mass.", "Rose|Bishop|14/02|1950",
      "3.2 cm|axillary mass"),
    Q("92-year-old woman with a pressure ulcer on her sacrum.", "92", "pressure ulcer|sacrum|90+"),
    Q("A 95 y.o. gentleman with a 2 mm lentigo maligna on his left temple.", "95",
      "2 mm|lentigo maligna|90+"),
    Q("Nonagenarian lady with bullous pemphigoid, BP180 positive, on prednisolone 30 mg daily.",
      "Nonagenarian", "bullous pemphigoid|BP180 positive|prednisolone 30 mg daily",
      "'aged 90 or older lady' at the start of the sentence (fixed)"),
    Q("An 8-year-old boy with a left humerus lesion, Langerhans cell histiocytosis, CD1a+ langerin+.",
      "8-year", "Langerhans cell histiocytosis|CD1a+|langerin+|humerus"),
    Q("A 16 yo girl with a right ovarian mass, teratoma.", "16 yo", "girl|ovarian mass|teratoma"),
    Q("Case from the University of Manchester: 52-year-old man, hepatocellular carcinoma, AFP 1200 ng/mL "
      "(01/02/2022).", "Manchester|01/02|2022|52-year", "hepatocellular carcinoma|AFP 1200 ng/mL",
      "university leaked (fixed)"),
    Q("Seen at Johns Hopkins Hospital: 40 year old female with Cushing syndrome.", "Hopkins|40 year",
      "Cushing syndrome"),
    Q("Thanks to Prof. Nakamura and Dr Smith for this case: 74M, CLL, Richter transformation.",
      "Nakamura|Smith|74M|74F", "CLL|Richter transformation"),
    Q("3 y/o boy, Wilms tumour of the left kidney, stage II.", "3 y/o", "Wilms tumour|kidney|stage II"),
    Q("In her late 80s, this woman had a BCC on the right ala.", "", "late 80s|BCC|ala",
      "decade under 90 kept on purpose"),
    Q("A 29-year-old pregnant woman at 24 weeks with a cervical mass; HPV positive, p16 block-positive.",
      "29-year", "pregnant woman|24 weeks|cervical mass|HPV positive|p16 block-positive"),
    Q("Pt: John Smith, 56, with a left testicular mass, AFP 45, bHCG 10.", "John|Smith|56",
      "testicular mass|AFP 45|bHCG 10"),
    Q("71-year-old man (retired lighthouse keeper from Tobermory, Scottish, of Pakistani descent) with a "
      "scalp angiosarcoma, CD31+ ERG+.", "Tobermory|71-year", "lighthouse keeper|angiosarcoma|CD31+ ERG+",
      "town leaked (fixed); rare occupation and ethnicity left (a judgement for the poster)"),
    Q("2nd opinion sent to Dr. García-López at Hospital Universitario La Paz.", "García|López|La Paz",
      "2nd opinion", "Spanish-style hospital name leaked (fixed)"),
    Q("This 35 yo man was seen at 3pm on 2 January; phone (555) 123-4567.", "3pm|January|555|4567|35 yo"),
    Q("Biopsy taken 15/06/23 from a 60-year-old woman's left shin: erythema nodosum.", "15/06|60-year",
      "erythema nodosum|shin"),
    Q("ZIP 90210; 47M with Kikuchi disease, CD68+ histiocytes.", "90210|47M|47F",
      "Kikuchi disease|CD68+ histiocytes", "ZIP leaked (fixed)"),
    Q("A 25-year-old woman with Addison disease and a right adrenal mass, cortisol 50 nmol/L at 9am.",
      "25-year", "Addison disease|adrenal mass|cortisol 50 nmol/L",
      "LEFT: 'at 9am' goes with the other clock times, though a 9am cortisol is a teaching point"),
    Q("Mr. O'Brien, 82, on warfarin 5 mg, had a left subdural hematoma.", "Brien|82,",
      "warfarin 5 mg|subdural hematoma", "'The patient'Brien' (fixed)"),
    Q("Elderly man (aged 98) with a Marjolin ulcer on his right leg.", "98", "Marjolin ulcer|90 or older"),
    Q("A 12-year-old girl with Ewing sarcoma of the right femur, CD99+, EWSR1 rearranged.", "12-year",
      "Ewing sarcoma|femur|CD99+|EWSR1 rearranged"),
    Q("Accession SP-21-1234: 45-year-old man with Whipple disease, PAS-positive macrophages.",
      "SP-21|1234|45-year", "Whipple disease|PAS-positive macrophages"),
    Q("Woman, 39, with Sjögren syndrome and a parotid MALT lymphoma; lip biopsy focus score 2.", "39",
      "Sjögren syndrome|parotid MALT lymphoma|focus score 2"),
    Q("A 42-year-old woman from Tromsø, Norway with a Bowen disease lesion on her left hand.",
      "Tromsø|42-year", "Norway|Bowen disease|hand", "town leaked (fixed); country kept"),
    Q("Our patient, Mr Ahmed Khan, 63, was admitted to King's College Hospital with Wegener granulomatosis.",
      "Ahmed|Khan|King|63", "Wegener granulomatosis",
      "LEFT: 'Our patient, the patient, 60,' is redundant (no leak)"),
    Q("A 58 yo F in Ward 7B, bed 12, with Barrett oesophagus, high grade dysplasia.", "58 yo",
      "Barrett oesophagus|high grade dysplasia", "LEFT: ward and bed (not identifying without a hospital)"),
    Q("@path_guru tagged this: 36 yo woman, 5 cm left breast mass, lobular carcinoma, E-cadherin negative.",
      "path_guru|36 yo", "woman|5 cm|breast mass|lobular carcinoma|E-cadherin negative", "handle (fixed)"),
    Q("Fifty-five-year-old man with a Pancoast tumour of the left lung apex.", "Fifty-five",
      "Pancoast tumour|lung apex", "age in words kept (fixed)"),
    Q("A 75-year-old man seen in clinic on 1st April 2024: Dupuytren contracture of his right hand.",
      "April|2024|1st|75-year", "Dupuytren contracture|hand"),
    Q("Ninety-one-year-old woman with temporal arteritis; ESR 90 mm/h.", "Ninety-one",
      "temporal arteritis|ESR 90 mm/h|90+"),
    Q("18 mo old boy with a right testicular yolk sac tumour.", "18 mo", "boy|testicular yolk sac tumour"),
    Q("Patient is a 67-year-old Navajo woman, a silversmith from Chinle, AZ 86503, with a right forearm "
      "keratoacanthoma.", "Chinle|86503|67-year", "Navajo|silversmith|keratoacanthoma|AZ",
      "town and ZIP leaked (fixed); the state is kept"),
    Q("Sr. Fernández, 50 años, con tumor de Warthin en la parótida izquierda.", "Fernández",
      "tumor de Warthin", "name leaked (fixed); Spanish age left (English only)"),
    Q("27F, 12 weeks pregnant, with a left adnexal mass on ultrasound.", "27F",
      "F,|12 weeks pregnant|adnexal mass|ultrasound"),
    Q("Mrs. McDonald, 61, had a Spitz nevus excised at Addenbrooke's Hospital; Breslow n/a, 4 mm.",
      "Donald|Addenbrooke|61,", "Spitz nevus|4 mm", "'The patientDonald' (fixed)"),
]  # fmt: skip
