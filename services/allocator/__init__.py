"""The allocator service: supply picture, ATP, order promising, constrained allocation and backorder runs.

Its pure rules live in ``services.allocator.domain``; ``api`` holds the HTTP routes.
"""
