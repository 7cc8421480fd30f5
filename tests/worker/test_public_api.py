"""The public face of the package is pinned, so it cannot drift by accident."""

import fleet


def test_exported_names_are_exactly_the_public_api() -> None:
    assert sorted(fleet.__all__) == sorted(
        [
            "DRAINING",
            "INTERRUPTED",
            "INVALID_INPUT",
            "INVALID_OUTPUT",
            "OUTPUT_TOO_LARGE",
            "TIMEOUT",
            "Activity",
            "ConfigurationError",
            "FatalError",
            "Fleet",
            "FleetError",
            "Settings",
            "Task",
            "TaskFailure",
            "__version__",
        ]
    )
    for name in fleet.__all__:
        assert getattr(fleet, name) is not None


def test_error_names_match_the_design() -> None:
    assert fleet.DRAINING == "Fleet.Draining"
    assert fleet.INTERRUPTED == "Fleet.Interrupted"
    assert fleet.TIMEOUT == "Fleet.Timeout"
    assert fleet.INVALID_OUTPUT == "Fleet.InvalidOutput"
    assert fleet.INVALID_INPUT == "Fleet.InvalidInput"
    assert fleet.OUTPUT_TOO_LARGE == "Fleet.OutputTooLarge"
