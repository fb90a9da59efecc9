"""Validates AWS API inputs with botocore's own parameter validator (the check the AWS CLI and boto3 run before
sending a request). Run with Debian's /usr/bin/python3 and python3-botocore.

usage: botocore_validate.py SERVICE:OPERATION:FILE...
prints one JSON object: {"botocore": VERSION, "results": {FILE: [error lines]}}; exit 0 even when a file is invalid
(the caller decides), 2 on a usage error.
"""
import json
import sys

import botocore
import botocore.session
from botocore.validate import ParamValidator


def main(arguments):
    if not arguments:
        print(__doc__, file=sys.stderr)
        return 2
    session = botocore.session.get_session()
    models = {}
    validator = ParamValidator()
    results = {}
    for argument in arguments:
        service, operation, path = argument.split(":", 2)
        if service not in models:
            models[service] = session.get_service_model(service)
        shape = models[service].operation_model(operation).input_shape
        with open(path, encoding="utf-8") as handle:
            params = json.load(handle)
        report = validator.validate(params, shape)
        results[path] = report.generate_report().splitlines() if report.has_errors() else []
    print(json.dumps({"botocore": botocore.__version__, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
