"""The suite's reports: results.json helpers, report.html, Allure labels, the deviation register."""
