"""``junit.xml``: one test case per gate rule, as Jenkins' ``junit`` step reads it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from . import xml_safe

FILENAME = "junit.xml"


def render(verdict) -> str:
    rules = verdict.rules
    counts = {s: sum(r.status == s for r in rules) for s in ("fail", "error", "skipped")}
    attrs = {"name": "gantry security gate", "tests": str(len(rules)), "failures": str(counts["fail"]),
             "errors": str(counts["error"]), "skipped": str(counts["skipped"]), "time": f"{verdict.duration:.3f}"}
    suites = ET.Element("testsuites", attrs)
    suite = ET.SubElement(suites, "testsuite", {**attrs, "name": f"gantry.security.{xml_safe(verdict.environment)}",
                                                "timestamp": verdict.generated_at})
    props = ET.SubElement(suite, "properties")
    for k, val in (("environment", verdict.environment), ("policy", verdict.policy), ("verdict", verdict.status),
                   ("summary", verdict.summary)):
        ET.SubElement(props, "property", {"name": k, "value": xml_safe(val)})
    for r in rules:
        case = ET.SubElement(suite, "testcase", {"classname": xml_safe(f"gantry.security.{r.tool}"),
                                                 "name": xml_safe(r.name), "time": "0"})
        body = xml_safe("\n".join([r.message, *r.details]))
        if r.status == "fail":
            ET.SubElement(case, "failure", {"message": xml_safe(r.message[:500]), "type": "gate"}).text = body
        elif r.status == "error":
            ET.SubElement(case, "error", {"message": xml_safe(r.message[:500]), "type": "cannot-evaluate"}).text = body
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", {"message": xml_safe(r.message[:500])})
        else:
            ET.SubElement(case, "system-out").text = body
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
