-- Issue 17, retention console: an admin queues a retention run from the console.

--!include retention/request-run.sql
