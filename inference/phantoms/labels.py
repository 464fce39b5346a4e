"""Label maps of the phantoms and the names of the cervical findings."""

from __future__ import annotations

from enum import IntEnum

CORD_EDEMA = "cord_edema"
DISC_INJURY = "disc_injury"
RETROPHARYNGEAL_HEMATOMA = "retropharyngeal_hematoma"
CANAL_STENOSIS = "canal_stenosis"
LIGAMENT_INJURY = "ligament_injury"
#: The six reader-study findings minus "level of injury", which is ``injury_level``.
CERVICAL_FINDINGS = frozenset(
    {CORD_EDEMA, DISC_INJURY, RETROPHARYNGEAL_HEMATOMA, CANAL_STENOSIS, LIGAMENT_INJURY}
)


class CervicalLabel(IntEnum):
    """Values of :attr:`CervicalPhantom.labels`. Finding labels replace the normal tissue."""

    AIR = 0  #: outside the body and the airway
    SOFT_TISSUE = 1  #: muscle, viscera, ligaments
    FAT = 2  #: subcutaneous fat
    CORTICAL_BONE = 3  #: vertebral-body cortical shell and endplates
    CANCELLOUS_BONE = 4  #: vertebral-body marrow
    POSTERIOR_ELEMENTS = 5  #: pedicles, laminae, lateral masses, spinous processes
    DISC = 6  #: intervertebral disc
    CSF = 7  #: cerebrospinal fluid in the spinal canal
    SPINAL_CORD = 8
    CORD_EDEMA = 9  #: finding cord_edema
    DISC_INJURY = 10  #: finding disc_injury
    HEMATOMA = 11  #: finding retropharyngeal_hematoma (prevertebral)
    STENOSIS = 12  #: finding canal_stenosis (posterior disc-osteophyte complex)
    LIGAMENT_INJURY = 13  #: finding ligament_injury (interspinous)


class LumbarLabel(IntEnum):
    """Values of :attr:`LumbarPhantom.labels`."""

    AIR = 0
    SOFT_TISSUE = 1  #: muscle, vessels, viscera
    FAT = 2  #: subcutaneous, retroperitoneal and epidural fat
    CORTICAL_BONE = 3
    CANCELLOUS_BONE = 4
    POSTERIOR_ELEMENTS = 5  #: pedicles, laminae, facets, transverse and spinous processes
    DISC = 6  #: intervertebral disc (IVD)
    LIGAMENTUM_FLAVUM = 7  #: LF
    DURAL_CANAL = 8  #: dural sac (CSF and cauda equina), "DC"
    NERVE_ROOT = 9  #: nerve-root sleeves leaving the sac towards the foramina
    HERNIATION = 10  #: herniated disc material compressing the canal
