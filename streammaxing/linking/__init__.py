"""Streamers link their Twitch account in the browser: the invite page, the start of Twitch's
authorization and its callback (`streammaxing.linking.routes`)."""
