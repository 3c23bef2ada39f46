from tests.standins.fixtures import *  # noqa: F403
