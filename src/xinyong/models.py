"""Every table of the platform, imported so that ``Base.metadata`` is complete (Alembic, create_all)."""

from xinyong.analytics import models as _analytics  # noqa: F401
from xinyong.auth import models as _auth  # noqa: F401
from xinyong.cases import models as _cases  # noqa: F401
from xinyong.catalog import models as _catalog  # noqa: F401
from xinyong.commitments import models as _commitments  # noqa: F401
from xinyong.core.audit import AuditChainHead, AuditEvent  # noqa: F401
from xinyong.core.db import Base  # noqa: F401
from xinyong.evaluation import models as _evaluation  # noqa: F401
from xinyong.exchange import models as _exchange  # noqa: F401
from xinyong.financing import models as _financing  # noqa: F401
from xinyong.ingest import models as _ingest  # noqa: F401
from xinyong.lists import models as _lists  # noqa: F401
from xinyong.measures import models as _measures  # noqa: F401
from xinyong.professions import models as _professions  # noqa: F401
from xinyong.publications import models as _publications  # noqa: F401
from xinyong.records import models as _records  # noqa: F401
from xinyong.reports import models as _reports  # noqa: F401
from xinyong.subjects import access_log as _access_log  # noqa: F401
from xinyong.subjects import models as _subjects  # noqa: F401
from xinyong.subjects import related as _related  # noqa: F401
from xinyong.watches import models as _watches  # noqa: F401
