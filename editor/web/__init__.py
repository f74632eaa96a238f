"""The web pages: the document list and editor page, downloads and uploads, sharing,
history pages and accounts. Views stay thin: they call the domain's services and
selectors.
"""
