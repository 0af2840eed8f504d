"""A fake of LinkedIn's REST API (organization posts, images, comments) for tests and the stack.

Served by the Graph API sandbox's process under ``/linkedin`` (api.linkedin.com); its data
lives on the Graph sandbox's ``SandboxState`` as ``state.linkedin`` (so `/_sandbox/reset`,
the clock, the fault rules and the call log are shared), and its control API is under
``/_sandbox/linkedin/``. See README.md.
"""
