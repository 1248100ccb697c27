pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.app",
    "tests.fixtures.s3_server",
    "tests.fixtures.live_server",
]
