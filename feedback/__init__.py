"""feedback: signals from products and people at work (thumbs, n-way choice, 2+2 workbench).

May read evalhub; every pick that counts toward a support rate is recorded as an evalhub vote
through an evalhub service, so reports never import this app.
"""
