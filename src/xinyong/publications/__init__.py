"""Publications of the credit office on the portal (issue #17): 红黑榜 releases (numbered periodic publications of
the new red and black list entries) and articles (信用动态, 政策法规) with their safe Markdown rendering."""
