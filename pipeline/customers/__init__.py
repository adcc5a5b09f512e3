"""The branch's customer book: importing it (CSV or XLSX) and the customers not yet
allocated to a manager."""
