"""REST API of reader studies: coordinators (``/api/v1/reader-studies/``) and readers
(``/api/v1/reading/``).

Each view parses input with an input serializer, loads what it acts on through a ``selectors``
helper (404 for what the user may not see), calls one service and answers with plain data
built here. The reader side (``reading``) answers only what blinding allows; the coordinator
side is split by subject (``studies``, ``enrolment``, ``references``, ``readings_data``).
``readerstudy.api_urls`` routes to the views re-exported here.
"""

from readerstudy.api.base import ReaderStudyApi
from readerstudy.api.enrolment import (
    CasesAddIn,
    MemberDetailApi,
    MemberIn,
    MemberListApi,
    ProgressApi,
    StudyCaseDetailApi,
    StudyCaseListApi,
    study_case_out,
)
from readerstudy.api.reading import (
    AmendIn,
    AnswersIn,
    CaseOpenApi,
    MyAssignmentApi,
    MyAssignmentsApi,
    ReadingAmendApi,
    ReadingApi,
    ReadingHeartbeatApi,
    ReadingSubmitApi,
    case_payload,
    dicomweb_root,
    viewer_config,
)
from readerstudy.api.readings_data import (
    ExportReadingsApi,
    ImportReadingsApi,
    ReadingsImportIn,
    StudyReadingsApi,
)
from readerstudy.api.references import (
    CaseReferenceApi,
    ReferenceIn,
    ReferenceListApi,
    ReferenceRuleIn,
    reference_out,
)
from readerstudy.api.studies import (
    ProtocolsApi,
    QuestionDetailApi,
    QuestionIn,
    QuestionListApi,
    QuestionUpdateIn,
    SessionDetailApi,
    SessionIn,
    SessionListApi,
    SessionUpdateIn,
    StatusIn,
    StudyCreateIn,
    StudyDetailApi,
    StudyListApi,
    StudyStatusApi,
    StudyUpdateIn,
    session_out,
    study_out,
)

__all__ = [
    "AmendIn",
    "AnswersIn",
    "CaseOpenApi",
    "CaseReferenceApi",
    "CasesAddIn",
    "ExportReadingsApi",
    "ImportReadingsApi",
    "MemberDetailApi",
    "MemberIn",
    "MemberListApi",
    "MyAssignmentApi",
    "MyAssignmentsApi",
    "ProgressApi",
    "ProtocolsApi",
    "QuestionDetailApi",
    "QuestionIn",
    "QuestionListApi",
    "QuestionUpdateIn",
    "ReaderStudyApi",
    "ReadingAmendApi",
    "ReadingApi",
    "ReadingHeartbeatApi",
    "ReadingSubmitApi",
    "ReadingsImportIn",
    "ReferenceIn",
    "ReferenceListApi",
    "ReferenceRuleIn",
    "SessionDetailApi",
    "SessionIn",
    "SessionListApi",
    "SessionUpdateIn",
    "StatusIn",
    "StudyCaseDetailApi",
    "StudyCaseListApi",
    "StudyCreateIn",
    "StudyDetailApi",
    "StudyListApi",
    "StudyReadingsApi",
    "StudyStatusApi",
    "StudyUpdateIn",
    "case_payload",
    "dicomweb_root",
    "reference_out",
    "session_out",
    "study_case_out",
    "study_out",
    "viewer_config",
]
