"""Reporting helpers for the suite's outputs (Allure labels; results.json lives in conformance.results)."""
