"""Message templates: render a guild's template for a live stream, and validate templates.

Everything here is pure (no I/O). ``render_announcement`` produces the JSON body of Discord's
Create/Edit Message request; ``validate_template`` checks a template before it is saved.
"""

from streammaxing.templating.defaults import DEFAULT_TEMPLATE, SAMPLE_STREAM
from streammaxing.templating.ended import format_duration, render_ended
from streammaxing.templating.model import StreamInfo, TemplateIssue
from streammaxing.templating.render import allowed_mentions, render_announcement
from streammaxing.templating.validate import validate_custom_content, validate_template
from streammaxing.templating.variables import TEMPLATE_VARIABLES

__all__ = [
    "DEFAULT_TEMPLATE",
    "SAMPLE_STREAM",
    "TEMPLATE_VARIABLES",
    "StreamInfo",
    "TemplateIssue",
    "allowed_mentions",
    "format_duration",
    "render_announcement",
    "render_ended",
    "validate_custom_content",
    "validate_template",
]
