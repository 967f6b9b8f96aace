"""Which images of which studies: QIDO-RS against a real Orthanc, and the presentation rule."""

from __future__ import annotations

import logging

import pytest
from orthanc_server import tiny_image
from pydicom.uid import generate_uid

from mammorcnn.engine.dicomweb import connect
from mammorcnn.engine.dicomweb.studies import Instance, choose, find_instances
from mammorcnn.errors import ConfigError, InputError


def _instance(sop: str, processing: bool) -> Instance:
    return Instance("1.2", "1.2.3", sop, processing)


def test_presentation_images_are_chosen_where_both_kinds_exist(caplog):
    both = [_instance("1", True), _instance("2", False), _instance("3", True)]
    with caplog.at_level(logging.INFO, logger="mammorcnn.dicomweb"):
        assert choose("1.2", both) == [both[1]]
    assert "1 'for presentation' image(s) chosen, 2 'for processing' left out" in caplog.text
    only_processing = [_instance("1", True)]
    assert choose("1.2", only_processing) == only_processing


def test_a_study_on_the_server(orthanc, writer_env, caplog):
    study = generate_uid()
    shown = tiny_image(study, intent="FOR PRESENTATION")
    raw = tiny_image(study, intent="FOR PROCESSING")
    orthanc.upload(shown, raw, tiny_image(study, modality="OT"))
    server = connect(orthanc.dicomweb)
    with caplog.at_level(logging.INFO, logger="mammorcnn.dicomweb"):
        (found,) = find_instances(server, [study], since=None)
    assert found == Instance(study, shown.SeriesInstanceUID, shown.SOPInstanceUID, False)
    assert f"study {study}: 1 'for presentation' image(s) chosen, 1 'for processing'" in caplog.text
    assert found.url(server.url).endswith(
        f"/studies/{study}/series/{shown.SeriesInstanceUID}/instances/{shown.SOPInstanceUID}"
    )


def test_a_study_that_does_not_exist(orthanc, writer_env):
    server = connect(orthanc.dicomweb)
    with pytest.raises(InputError) as info:
        find_instances(server, ["1.2.3.999"], since=None)
    assert str(info.value) == f"{orthanc.dicomweb}: no study with StudyInstanceUID 1.2.3.999"


def test_a_study_without_mammograms(orthanc, writer_env):
    study = generate_uid()
    orthanc.upload(tiny_image(study, modality="OT"))
    with pytest.raises(InputError, match=f"study {study} has no MG images \\(modalities: OT\\)"):
        find_instances(connect(orthanc.dicomweb), [study], since=None)


def test_since_takes_studies_from_that_day_and_skips_those_without_mg(orthanc, writer_env):
    before, mg, other = generate_uid(), generate_uid(), generate_uid()
    orthanc.upload(
        tiny_image(before, date="20291231"),
        tiny_image(mg, date="20300101"),
        tiny_image(other, date="20300110", modality="OT"),
    )
    found = find_instances(connect(orthanc.dicomweb), [], since="2030-01-01")
    assert [i.study for i in found] == [mg]
    # a study both named and dated is taken once
    assert len(find_instances(connect(orthanc.dicomweb), [mg], since="2030-01-01")) == 1


@pytest.mark.parametrize(
    "studies, since, problem",
    [(["1.2.abc"], None, "not a DICOM UID"), ([], "2030-13-01", "expected a date"),
     ([], "20300101", "expected a date")],
)  # fmt: skip
def test_bad_arguments_are_refused_before_any_request(studies, since, problem):
    server = connect("http://127.0.0.1:9")  # nothing is sent: port 9 would refuse
    with pytest.raises(ConfigError, match=problem):
        find_instances(server, studies, since)
