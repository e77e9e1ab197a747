"""What template.yaml must keep for the AWS guarantees (docs/BEHAVIOUR.md §8): a reminder that fails
Lambda's retries lands in the dead-letter queue, that queue has an alarm, and the functions may
send only from SES identities tagged for this deployment. cfn-lint checks the syntax; this checks
the intent. Run by scripts/test.sh with the virtual environment's Python (cfn-lint's loader)."""
import sys
from cfnlint.decode import cfn_yaml

template = cfn_yaml.load(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
resources = template["Resources"]
problems = []

# Functions invoked asynchronously, each with the queue its failed invocations land in.
for function, queue in (
    ("ReminderFunction", "ReminderDeadLetterQueue"),
    ("InboundSmsFunction", "InboundSmsDeadLetterQueue"),
    ("DeliveryEventsFunction", "DeliveryEventsDeadLetterQueue"),
):
    invoke = resources[function]["Properties"].get("EventInvokeConfig", {})
    on_failure = invoke.get("DestinationConfig", {}).get("OnFailure", {})
    if on_failure.get("Destination") != {"Fn::GetAtt": [queue, "Arn"]}:
        problems.append(f"{function}'s failed invocations do not go to {queue}")
    if invoke.get("MaximumRetryAttempts") != 2:
        problems.append(f"{function} is not retried twice by Lambda")
    alarmed = [
        name for name, r in resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
        in r["Properties"].get("Dimensions", [])
    ]
    if not alarmed:
        problems.append(f"no alarm watches {queue}")

for function in ("OnSaveFunction", "PatientActionFunction", "ReminderFunction", "InboundSmsFunction", "DeliveryEventsFunction"):
    statements = resources[function]["Properties"]["Policies"][0]["Statement"]
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        touches_identities = any("identity/" in str(r) for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]))
        if "ses:SendEmail" in actions and touches_identities:
            condition = s.get("Condition", {}).get("StringEquals", {})
            if "aws:ResourceTag/rappel-deployment" not in condition:
                problems.append(f"{function} may send from SES identities not tagged for this deployment")

destination = resources["SesDeliveryEventDestination"]["Properties"]["EventDestination"]
if set(destination.get("MatchingEventTypes", [])) != {"delivery", "bounce", "complaint"}:
    problems.append("SES does not publish delivery, bounce and complaint events to delivery-events")
events = resources["DeliveryEventsFunction"]["Properties"]["Events"]
if {e["Type"] for e in events.values()} != {"SNS", "CloudWatchLogs"}:
    problems.append("delivery-events is not fed by both the SES topic and the SMS delivery logs")

if problems:
    print("template.yaml:", *problems, sep="\n  ")
    sys.exit(1)
print("template.yaml keeps the dead-letter queues, their alarms and the sender-identity condition")
