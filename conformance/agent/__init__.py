"""The agent protocol: the suite on one side of a byte stream, the implementation on the other.

``protocol`` is the wire format, ``server`` the agent loop (``python3 -m conformance.agent``),
``client`` the host side (``AgentConnection``, ``AgentTarget``), ``transport`` how to reach an agent.
See docs/agent-protocol.md.
"""
