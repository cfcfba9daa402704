"""What arrives, in training and in the service: the X Education leads columns, quirks kept.

Quirks are described here and handled in features.py, never repaired by validation: the
web form's placeholder `Select` means "no option chosen"; `Lead Source` mixes letter case
("Google" and "google"); many answers are empty; several flags are (nearly) always "No";
`TotalVisits` has outliers up to 251. Column names contain spaces: each field keeps the
file's name as its alias, so the CSV, the validator and the JSON request all use it.

Columns the model does not read are nullable, so that a request for a new lead may omit them.
"""

import pandera.pandas as pa
from pandera.typing import Series

TARGET = "Converted"
POSITIVE_LABEL = 1
ID_COLUMN = "Prospect ID"
LEAD_NUMBER = "Lead Number"  # a second id (the CRM's number): never a feature either

# Known only after the sales team has worked the lead, or recording the outcome itself.
# They stay in RawSchema (the export has them) and never reach build_features.
# ADAPT: list every CRM field your sales team fills in during or after the first call.
LEAKY_COLUMNS: tuple[str, ...] = (
    "Tags",  # the rep's disposition after the call: "Closed by Horizzon" converts at 99 %
    "Lead Quality",  # the rep's judgement of the lead after talking to them
    "Lead Profile",  # filled in by sales ("Potential Lead", "Student of SomeSchool")
    "Asymmetrique Activity Index",  # scores assigned by the sales team, not by the lead
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
    "Last Activity",  # latest event, may be after conversion ("Had a Phone Conversation")
    "Last Notable Activity",  # the same, later still; "SMS Sent" by sales converts at 69 %
)

YES_NO = ["Yes", "No"]
ASYMMETRIQUE_INDEX = ["01.High", "02.Medium", "03.Low"]


def _unused(description: str) -> str:
    return description + "; not read by the model, may be omitted"


class RawSchema(pa.DataFrameModel):
    """One row per lead, as exported from the CRM (the file's column order)."""

    # fmt: off
    prospect_id: Series[str] = pa.Field(alias="Prospect ID", str_length={"min_value": 1},
        description="lead id (UUID)", metadata={"example": "7927b2df-8bba-4d29-b9a2-b6e0beafe620", "pii": True})
    lead_number: Series[int] = pa.Field(alias="Lead Number", ge=0, unique=True,
        description="lead number in the CRM", metadata={"example": 660737, "pii": True})
    lead_origin: Series[str] = pa.Field(alias="Lead Origin",
        isin=["API", "Landing Page Submission", "Lead Add Form", "Lead Import", "Quick Add Form"],
        description="how the lead entered the CRM", metadata={"example": "Landing Page Submission"})
    # Open-ended on purpose: new channels appear, and the export mixes letter case.
    lead_source: Series[str] = pa.Field(alias="Lead Source", nullable=True,
        str_length={"min_value": 1}, metadata={"example": "Google"},
        description="marketing channel (open-ended; 'Google' and 'google' both occur)")
    do_not_email: Series[str] = pa.Field(alias="Do Not Email", isin=YES_NO,
        description="lead opted out of e-mail", metadata={"example": "No"})
    do_not_call: Series[str] = pa.Field(alias="Do Not Call", isin=YES_NO, nullable=True,
        description=_unused("opted out of calls (2 'Yes' in 9,240)"), metadata={"example": "No"})
    converted: Series[int] = pa.Field(alias="Converted", isin=[0, 1],
        description="1 = became a paying customer (target)")
    total_visits: Series[float] = pa.Field(alias="TotalVisits", ge=0, le=10_000, nullable=True,
        description="visits to the website, count (outliers up to 251)", metadata={"example": 5.0})
    total_time: Series[int] = pa.Field(alias="Total Time Spent on Website", ge=0, le=1_000_000,
        description="time on the website, seconds", metadata={"example": 674})
    page_views: Series[float] = pa.Field(alias="Page Views Per Visit", ge=0, le=10_000,
        nullable=True, description="pages viewed per visit, average", metadata={"example": 2.5})
    last_activity: Series[str] = pa.Field(alias="Last Activity", nullable=True,
        description=_unused("latest activity (leaky)"), metadata={"example": "Email Opened"})
    country: Series[str] = pa.Field(alias="Country", nullable=True,
        description="country (open-ended); sensitive: a nationality proxy, used by the model as"
        " declared in config governance.use_sensitive",
        metadata={"example": "India", "sensitive": True, "pii": "quasi"})
    specialization: Series[str] = pa.Field(alias="Specialization", nullable=True,
        description="industry; 'Select' = no option chosen", metadata={"example": "Select"})
    heard_from: Series[str] = pa.Field(alias="How did you hear about X Education", nullable=True,
        description="form answer; 'Select' = no option chosen", metadata={"example": "Select"})
    occupation: Series[str] = pa.Field(alias="What is your current occupation", nullable=True,
        description="form answer: Unemployed, Working Professional, Student, ...",
        metadata={"example": "Unemployed"})
    what_matters: Series[str] = pa.Field(alias="What matters most to you in choosing a course",
        nullable=True, description="form answer", metadata={"example": "Better Career Prospects"})
    search: Series[str] = pa.Field(alias="Search", isin=YES_NO, nullable=True,
        description="saw an ad in search results", metadata={"example": "No"})
    magazine: Series[str] = pa.Field(alias="Magazine", isin=YES_NO, nullable=True,
        description=_unused("saw a magazine ad (always 'No')"), metadata={"example": "No"})
    newspaper_article: Series[str] = pa.Field(alias="Newspaper Article", isin=YES_NO,
        nullable=True, description="saw a newspaper article", metadata={"example": "No"})
    forums: Series[str] = pa.Field(alias="X Education Forums", isin=YES_NO, nullable=True,
        description="saw the X Education forums", metadata={"example": "No"})
    newspaper: Series[str] = pa.Field(alias="Newspaper", isin=YES_NO, nullable=True,
        description="saw a newspaper ad", metadata={"example": "No"})
    digital_ad: Series[str] = pa.Field(alias="Digital Advertisement", isin=YES_NO, nullable=True,
        description="saw a digital ad", metadata={"example": "No"})
    recommendation: Series[str] = pa.Field(alias="Through Recommendations", isin=YES_NO,
        nullable=True, description="came through a recommendation", metadata={"example": "No"})
    more_updates: Series[str] = pa.Field(alias="Receive More Updates About Our Courses",
        isin=YES_NO, nullable=True, description=_unused("always 'No'"), metadata={"example": "No"})
    tags: Series[str] = pa.Field(alias="Tags", nullable=True,
        description=_unused("sales disposition (leaky)"), metadata={"example": "Ringing"})
    lead_quality: Series[str] = pa.Field(alias="Lead Quality", nullable=True,
        isin=["High in Relevance", "Might be", "Not Sure", "Low in Relevance", "Worst"],
        description=_unused("sales judgement (leaky)"), metadata={"example": "Might be"})
    supply_chain_updates: Series[str] = pa.Field(alias="Update me on Supply Chain Content",
        isin=YES_NO, nullable=True, description=_unused("always 'No'"), metadata={"example": "No"})
    dm_updates: Series[str] = pa.Field(alias="Get updates on DM Content", isin=YES_NO,
        nullable=True, description=_unused("always 'No'"), metadata={"example": "No"})
    lead_profile: Series[str] = pa.Field(alias="Lead Profile", nullable=True,
        description=_unused("sales-assigned profile (leaky)"), metadata={"example": "Select"})
    city: Series[str] = pa.Field(alias="City", nullable=True,
        description="city; 'Select' = no option chosen", metadata={"example": "Mumbai", "pii": "quasi"})
    activity_index: Series[str] = pa.Field(alias="Asymmetrique Activity Index", nullable=True,
        isin=ASYMMETRIQUE_INDEX, description=_unused("sales-assigned index (leaky)"),
        metadata={"example": "02.Medium"})
    profile_index: Series[str] = pa.Field(alias="Asymmetrique Profile Index", nullable=True,
        isin=ASYMMETRIQUE_INDEX, description=_unused("sales-assigned index (leaky)"),
        metadata={"example": "02.Medium"})
    activity_score: Series[float] = pa.Field(alias="Asymmetrique Activity Score", nullable=True,
        ge=0, le=100, description=_unused("sales-assigned score (leaky)"),
        metadata={"example": 15.0})
    profile_score: Series[float] = pa.Field(alias="Asymmetrique Profile Score", nullable=True,
        ge=0, le=100, description=_unused("sales-assigned score (leaky)"),
        metadata={"example": 15.0})
    cheque: Series[str] = pa.Field(alias="I agree to pay the amount through cheque", isin=YES_NO,
        nullable=True, description=_unused("always 'No'"), metadata={"example": "No"})
    free_copy: Series[str] = pa.Field(alias="A free copy of Mastering The Interview",
        isin=YES_NO, description="asked for the free e-book", metadata={"example": "No"})
    last_notable_activity: Series[str] = pa.Field(alias="Last Notable Activity", nullable=True,
        description=_unused("latest notable activity (leaky)"), metadata={"example": "Modified"})
    # fmt: on

    class Config:
        strict = True
        coerce = False
